"""Audio for the commands: generate with a WaveNet-style model and write WAV files at the model's rate."""

from __future__ import annotations

from pathlib import Path

import torch

from chainrule.data.audio import read_wav, write_wav
from chainrule.data.mulaw import decode, encode
from chainrule.sampling import generate


def wav_names(output: str, n: int) -> list[Path]:
    path = Path(output)
    if path.suffix.lower() != ".wav":
        path = path.with_suffix(".wav")
    return [path] if n == 1 else [path.with_name(f"{path.stem}-{i}{path.suffix}") for i in range(n)]


def write_generated(model, prompt: torch.Tensor, seconds: float, n: int, output: str, temperature: float, gen) -> None:
    """Continue `prompt` (codes, may be empty) by `seconds` of audio, n times; write prompt + continuation."""
    rate, encoding = model.data_kind.rate, model.data_kind.encoding
    for path in wav_names(output, n):
        new = generate(model, prompt, int(seconds * rate), temperature=temperature, generator=gen)
        write_wav(path, decode(torch.cat([prompt, new]), encoding), rate)
        print(f"wrote {path} ({(len(prompt) + len(new)) / rate:.2f} s at {rate} Hz)")


def read_prompt(model, path: str) -> torch.Tensor:
    """A WAV file as codes of the model's encoding, resampled to its rate."""
    samples, _ = read_wav(path, model.data_kind.rate)
    return encode(torch.from_numpy(samples), model.data_kind.encoding)
