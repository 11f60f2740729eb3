"""Training settings."""

from __future__ import annotations

import math
from dataclasses import dataclass

from chainrule.errors import ConfigError
from chainrule.train.precision import PRECISIONS


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run. The budget is whichever of epochs / steps / minutes ends first; with none
    given, 10 epochs.

    Attributes:
        epochs, steps, minutes: budget (0 = not limited by this one).
        batch_size, eval_batch_size: examples per optimizer step / per evaluation pass.
        lr, weight_decay, warmup_steps, final_lr_fraction: AdamW with linear warm-up then cosine decay to
            lr · final_lr_fraction over the budget; the weight decay applies to matrices only (not to biases and
            norms).
        betas: AdamW's moment decays (β1, β2).
        grad_clip: clip the global gradient norm (0 = off).
        seed: seeds the weights, the shuffling and dynamic binarization.
        device: "cpu", "cuda" or "cuda:N".
        precision: "auto" (bf16 autocast for the training step on CUDA with bf16 and, where a few timed passes
            find it faster, on CPUs with bf16 instructions; fp32 elsewhere: `train.precision`), "fp32" or "bf16";
            evaluation, sampling and coding stay fp32.
        eval_every: validate every N steps as well as after each epoch (0 = after each epoch only).
        checkpoint_every: write a resumable checkpoint every N steps (and at every validation and the end).
        max_bad_steps: consecutive non-finite losses tolerated (skipped) before training stops.
        log_every: steps per metrics.csv row.
        ema: decay of an exponential moving average of the weights, used for validation, the saved model and
            the test (0 = off; 0.999-0.9999 typical).
        compile, channels_last, fused: speed options of the training step (see `train.speed`); off by default,
            as the throughput benchmark found none that pays off on a 2-core CPU (see BENCHMARKS.md).
        perturb: μ > 0 trains a background model for likelihood-ratio scores (Ren et al. 2019, arXiv 1906.02845):
            each value of a training batch is replaced by a uniformly random level with probability μ (evaluation
            sees the data as it is).
        l2: λ > 0 adds an L2 penalty λ · Σ w² over the matrices (linear and convolution weights, embeddings; not
            biases or norms) per example, as Ren et al.'s background models have it (their `reg_weight` on a loss in
            nats per image): the per-dimension loss gets λ · Σ w² / D for D values per example, whatever the batch
            size (unlike AdamW's decoupled `weight_decay`, the penalty goes through Adam's scaling).
        eval_examples: examples of each of the validation and test splits evaluated: 0 = all; -1 (auto) = all,
            except that a budget of steps alone evaluates at most max(500, 5 · steps · batch_size) of them, spread
            evenly over the split (a `--steps 3` check spends seconds, not minutes, evaluating); the results say how
            many were evaluated.
        tensorboard: also log the scalars and, at each validation, samples as TensorBoard events in
            `RUN/tensorboard/` (needs the tensorboard package).
    """

    epochs: int = 0
    steps: int = 0
    minutes: float = 0.0
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    final_lr_fraction: float = 0.05
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"
    eval_every: int = 0
    checkpoint_every: int = 500
    max_bad_steps: int = 20
    log_every: int = 50
    ema: float = 0.0
    compile: bool = False
    channels_last: bool = False
    fused: bool = False
    tensorboard: bool = False
    perturb: float = 0.0
    l2: float = 0.0
    eval_examples: int = -1

    def __post_init__(self) -> None:
        for name in ("epochs", "steps", "warmup_steps", "eval_every", "max_bad_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be ≥ 0")
        for name in ("batch_size", "eval_batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be ≥ 1")
        if self.minutes < 0 or self.lr <= 0 or self.grad_clip < 0 or not 0 <= self.final_lr_fraction <= 1:
            raise ConfigError("minutes ≥ 0, lr > 0, grad_clip ≥ 0 and 0 ≤ final_lr_fraction ≤ 1 are required")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas={self.betas} must be two numbers in [0, 1), e.g. betas=0.9,0.99")
        if not 0 <= self.seed < 1 << 63:
            raise ConfigError(f"seed={self.seed} must be in 0..2^63-1")
        if self.eval_examples < -1:
            raise ConfigError(f"eval_examples={self.eval_examples} must be ≥ 0 (0 = all) or -1 (auto)")
        if not 0 <= self.perturb < 1:
            raise ConfigError(f"perturb={self.perturb} must be in [0, 1) (0 = off)")
        if not (self.l2 >= 0 and math.isfinite(self.l2)):
            raise ConfigError(f"l2={self.l2} must be a finite number ≥ 0 (0 = off)")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"ema={self.ema} must be in [0, 1) (0 = off)")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision={self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device={self.device!r}; choose cpu or cuda")

    def eval_limit(self, examples: int) -> int:
        """How many of a split's `examples` each evaluation scores (see `eval_examples`)."""
        if self.eval_examples > 0:
            return min(examples, self.eval_examples)
        if self.eval_examples == -1 and self.steps and not (self.epochs or self.minutes):
            return min(examples, max(500, 5 * self.steps * self.batch_size))
        return examples

    @property
    def budget_epochs(self) -> int:
        return self.epochs or (0 if (self.steps or self.minutes) else 10)
