"""What a model config costs before anything is built: the number of weights its state dict holds and an upper bound
on the bytes (and Python work) its constructor spends, both in closed form from the config alone.

`load` checks them against the weights file before building, so that a crafted config.json (a million layers, a
10^8-dimension MADE, 200,000 masks) is refused from arithmetic in microseconds instead of after seconds and
gigabytes. Each family's config has a `footprint()` built from the small counters below; a registry test checks
the weights count exactly and the work bound against real builds.
"""

from __future__ import annotations

from dataclasses import dataclass

FLOAT = 4  # bytes of a float32 weight
MODULE = 1024  # nominal bytes of Python work per submodule built


@dataclass(frozen=True)
class Footprint:
    """weights: elements of the state dict (what the weights file holds); work: an upper bound on the bytes the
    constructor allocates (weights, masks and other buffers) plus MODULE per submodule."""

    weights: int
    work: int


def conv(in_channels: int, out_channels: int, *kernel: int, bias: bool = True) -> int:
    """Weights of a convolution (any dimensionality) or, with no kernel, a linear layer."""
    taps = 1
    for k in kernel:
        taps *= k
    return in_channels * out_channels * taps + (out_channels if bias else 0)


def embedding(rows: int, width: int) -> int:
    return rows * width


def lstm_layer(inputs: int, hidden: int, gates: int = 4) -> int:
    """One layer of torch's LSTM (4 gates) or GRU (3): input and hidden weights, two biases."""
    return gates * hidden * (inputs + hidden + 2)


def masked_network(weights: int, modules: int, masks: int = 0) -> Footprint:
    """A network whose `masks` elements of float32 masks (at most one per weight) sit beside its weights."""
    return Footprint(weights, FLOAT * (weights + masks) + MODULE * modules)
