"""TensorBoard logging for the trainer (`--tensorboard`): the metrics.csv scalars and, at every validation, what
the model generates (a grid of samples for image models, strips of frames for video models, a short continuation
for text models), under
`RUN/tensorboard/`. View with `tensorboard --logdir RUN/tensorboard`. Needs the optional `tensorboard` package."""

from __future__ import annotations

from pathlib import Path

import torch

from chainrule.errors import ConfigError
from chainrule.media import image_grid

SAMPLES = 8  # images drawn at each validation
TEXT_TOKENS = 200  # characters generated at each validation
VIDEOS = 2  # videos drawn at each validation (a 20-frame 64x64 video is 81,920 steps: about a minute on 2 cores)


class TensorBoardLog:
    """Writes scalars and samples as TensorBoard events into `directory`."""

    def __init__(self, directory: Path, resume_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "--tensorboard needs the tensorboard package: pip install tensorboard (or 'chainrule[tensorboard]')"
            ) from None
        # On resume, events past the checkpoint's step are marked stale so TensorBoard does not draw them twice.
        self.writer = SummaryWriter(str(directory), purge_step=resume_step)

    def scalars(self, step: int, values: dict[str, float | str]) -> None:
        for name, value in values.items():
            if value != "" and value is not None:
                self.writer.add_scalar(name, float(value), step)

    def samples(self, step: int, model: torch.nn.Module, seed: int = 0) -> None:
        """Draw from the model as it is now (eval mode, no gradients) and log what it made."""
        device = next(model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        with torch.no_grad():
            kind = model.data_kind
            if kind.is_text:
                from chainrule.sampling import generate

                tokens = generate(model, torch.zeros(0, dtype=torch.long), TEXT_TOKENS, generator=gen)
                text = kind.vocabulary.decode(tokens)
                self.writer.add_text("samples", "    " + text.replace("\n", "\n    "), step)
            elif kind.is_image and not model.cond_dim:
                labels = model.num_classes  # class-conditional: classes 0, 1, 2, ... in turn
                cond = torch.arange(SAMPLES, device=device) % labels if labels else None
                grid = image_grid(model.sample(SAMPLES, cond=cond, generator=gen), model.levels)
                self.writer.add_image("samples", grid, step, dataformats="HWC")
            elif kind.is_video:  # a strip per video: one row each, one column per frame
                videos = model.sample(VIDEOS, generator=gen)
                strip = image_grid(videos.flatten(0, 1), model.levels, columns=model.shape[0])
                self.writer.add_image("samples", strip, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
