"""A one-line description of the machine a figure was measured on."""

from __future__ import annotations

import os
import platform

import torch


def describe(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"{os.cpu_count()} cores {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
