"""What the one training loop asks of a model: an objective, evaluation sums, the metric that picks the best
checkpoint, the metric columns, and a hook after each optimizer step.

Every autoregressive model keeps the defaults of `models.base` (the loss is the negative log-likelihood in nats per
dimension; evaluation sums nats; the best checkpoint has the lowest validation bits/dim). A model trained for
something else (the VQ-VAE: reconstruction, commitment, codebook updates) overrides them here, and the trainer stays
one loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor, nn

from chainrule import config as cfg
from chainrule import serialization
from chainrule.data.kind import DataKind
from chainrule.models.footprint import Footprint
from chainrule.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class Trainable(nn.Module):
    """Base of every registered model: the training contract and persistence (JSON config + safetensors).

    Attributes:
        metric_columns: the metrics `objective` and `evaluation_result` report, one train_ and one val_ column each
            in metrics.csv (the first one also on the progress bar).
        selection_metric: the evaluation metric whose lowest validation value picks the kept weights.
        carries_state: True for a model that trains by truncated back-propagation through time.
    """

    registry_name: str = ""
    metric_columns: tuple[str, ...] = ("bpd",)
    selection_metric: str = "bpd"
    carries_state: bool = False

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.shape: tuple[int, ...] = tuple(config.shape)
        self.levels: int = config.levels
        self.num_classes: int = getattr(config, "num_classes", 0)
        self.cond_dim: int = getattr(config, "cond_dim", 0)
        # a spatial conditioning map (`data.condition`): (M, h, w), codes at map_levels levels or float values
        self.map_shape: tuple[int, ...] = tuple(getattr(config, "map_shape", ()))
        self.map_levels: int = getattr(config, "map_levels", 0)

    @classmethod
    def footprint(cls, config: Any) -> Footprint:
        """The weights count and build work of `cls(config)`, from the config alone (`models.footprint`)."""
        return config.footprint()

    @property
    def data_kind(self) -> DataKind:  # pragma: no cover - abstract
        """What the model's values are (`data.kind`): what the commands, the coder and the reports dispatch on."""
        raise NotImplementedError

    # --- training -------------------------------------------------------------------------------------------

    def objective(self, x: Tensor, cond: Tensor | None, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """The scalar loss the optimizer minimises at `step` and the batch's metrics (detached scalars, named as in
        `metric_columns`)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def after_step(self) -> None:
        """Run after each accepted optimizer step (skipped when the step was rejected as non-finite): updates that
        are not gradient steps, e.g. a codebook's moving averages."""

    def reset_carry(self) -> None:
        """Forget the state carried between training chunks (models with `carries_state`)."""

    # --- evaluation -----------------------------------------------------------------------------------------

    def evaluation_sums(self, x: Tensor, cond: Tensor | None) -> dict[str, float]:
        """Sums over the batch that `evaluation_result` turns into metrics (summed over batches and processes)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def evaluation_result(self, sums: dict[str, float], examples: int) -> dict[str, float]:
        """Metrics of a split from its sums over `examples` examples; holds `selection_metric`."""
        raise NotImplementedError  # pragma: no cover - abstract

    # --- persistence ----------------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        """Write `config.json` and `model.safetensors` into `directory` (atomically, no pickle)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        serialization.write_tensors(directory / WEIGHTS_FILE, self.state_dict())
        serialization.write_json(directory / CONFIG_FILE, self.describe())

    def describe(self) -> dict[str, Any]:
        """The JSON document that rebuilds this model's architecture."""
        return {"chainrule": __version__, "model": self.registry_name, "config": cfg.to_dict(self.config)}
