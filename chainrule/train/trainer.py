"""The one training loop: maximum likelihood for every model of the contract in `models/base.py`.

AdamW with warm-up + cosine, gradient clipping, an optional EMA of the weights (validated, kept and tested in place
of the raw ones), a budget in epochs / steps / minutes, validation with the best
weights kept in the run directory, resumable checkpoints, a NaN/inf guard, optional bf16 autocast, a progress
bar, `metrics.csv` and `loss.png`. The test split is evaluated once, at the end, with the best weights.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from chainrule import serialization
from chainrule.data import Dataset
from chainrule.errors import TrainingError
from chainrule.models import AutoregressiveModel
from chainrule.train import checkpoint
from chainrule.train.config import TrainConfig
from chainrule.train.ema import ExponentialMovingAverage
from chainrule.train.evaluate import evaluate
from chainrule.train.metrics import MetricsLog
from chainrule.train.schedules import warmup_cosine

log = logging.getLogger(__name__)
RESULTS_FILE = "results.json"


def stream_order(rows: int, batch_size: int) -> torch.Tensor:
    """Row order for truncated BPTT over a token stream cut into `rows` consecutive chunks: the chunks are dealt
    into `batch_size` contiguous streams, and batch k holds chunk k of every stream, so that each batch continues
    the previous one row by row."""
    per_stream = rows // batch_size
    if per_stream == 0:
        return torch.arange(rows)
    grid = torch.arange(per_stream * batch_size).reshape(batch_size, per_stream)
    return grid.t().reshape(-1)


class Trainer:
    """Trains `model` on `splits` ("train", "val", "test" datasets), writing into the run directory `out`."""

    def __init__(
        self,
        model: AutoregressiveModel,
        splits: dict[str, Dataset],
        config: TrainConfig,
        out: Path,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.model = model.to(self.device)
        self.splits = splits
        self.out = Path(out)
        self.progress = progress
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.state: dict[str, Any] = {
            "step": 0,
            "epoch": 0,
            "batch": 0,
            "seconds": 0.0,
            "best_val": math.inf,
            "bad_steps": 0,
        }
        self.running: list[float] = []
        self.ema = ExponentialMovingAverage(model, config.ema) if config.ema else None
        self.carries_state = splits["train"].is_stream and getattr(model, "carries_state", False)
        n = len(splits["train"])
        self.steps_per_epoch = math.ceil(n / config.batch_size)
        limits = [s for s in (config.steps, config.budget_epochs * self.steps_per_epoch) if s]
        self.total_steps = min(limits) if limits else 0

    # --- budget -------------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress_fraction(self) -> float:
        fractions = [self.state["step"] / self.total_steps] if self.total_steps else []
        if self.config.minutes:
            fractions.append(self.elapsed() / (60 * self.config.minutes))
        return max(fractions, default=0.0)

    def done(self) -> bool:
        return self.progress_fraction() >= 1.0

    # --- the loop -----------------------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until the budget is used, then evaluate the best weights on the test split.

        Returns:
            The results written to `results.json` (test nats and bits/dim, steps, seconds, ...).
        Raises:
            TrainingError: when the loss stays non-finite or training is interrupted (a checkpoint is kept).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            state, extra = checkpoint.load(self.out / "checkpoint", self.model, self.optimizer)
            self.state.update(state)
            if self.ema is not None:
                try:
                    self.ema.load(extra)
                except ValueError as err:
                    raise TrainingError(f"cannot resume {self.out}: {err}") from None
            log.info("resumed at step %d", self.state["step"])
        self.metrics = MetricsLog(self.out / "metrics.csv", self.state["step"] if resume else None)
        self.started = time.monotonic() - self.state["seconds"]
        bar = tqdm(
            total=self.total_steps or None,
            initial=self.state["step"],
            disable=None if self.progress else True,  # None: off when not a terminal
            mininterval=0.5,
            unit="step",
            dynamic_ncols=True,
            leave=False,
        )
        try:
            self.run_epochs(bar)
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise TrainingError(f"interrupted at step {self.state['step']}; resume with --resume") from None
        finally:
            bar.close()
        if self.state.get("validated_at") != self.state["step"]:
            self.validate()
        self.save_checkpoint()
        return self.finish()

    def run_epochs(self, bar: tqdm) -> None:
        train, batch_size, config = self.splits["train"], self.config.batch_size, self.config
        while not self.done():
            epoch = self.state["epoch"]
            if self.carries_state:  # consecutive chunks of B parallel streams; the model carries its state
                order = stream_order(len(train), batch_size)
                self.model.reset_carry()  # type: ignore[operator]
            else:
                order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config.seed * 7919 + epoch))
            while self.state["batch"] < self.steps_per_epoch and not self.done():
                b = self.state["batch"]
                self.train_step(train, order[b * batch_size : (b + 1) * batch_size])
                self.state["batch"] = b + 1
                bar.update(1)
                if self.running:
                    bar.set_postfix(bpd=f"{sum(self.running) / len(self.running):.4f}", epoch=epoch)
                step = self.state["step"]
                if self.state["batch"] == self.steps_per_epoch:
                    self.state["epoch"], self.state["batch"] = epoch + 1, 0
                    self.validate()
                    self.save_checkpoint()
                    break
                if config.eval_every and step % config.eval_every == 0:
                    self.validate()
                if step % config.checkpoint_every == 0:
                    self.save_checkpoint()

    def train_step(self, train: Dataset, index: torch.Tensor) -> None:
        config, model, step = self.config, self.model, self.state["step"]
        x, y = train.batch(index, generator=torch.Generator().manual_seed(config.seed * 1_000_003 + step))
        x = x.to(self.device, non_blocking=True)
        cond = y.to(self.device) if (y is not None and model.num_classes) else None
        lr = config.lr * warmup_cosine(step, self.progress_fraction(), config.warmup_steps, config.final_lr_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            log_p = model.training_log_prob(x, cond, step)
        loss = -log_p.float().mean() / model.dims  # nats per dimension
        self.optimizer.zero_grad(set_to_none=True)
        ok = bool(torch.isfinite(loss))
        if ok:
            loss.backward()
            if config.grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                ok = bool(torch.isfinite(norm))
        self.state["step"] = step + 1
        if not ok:
            self.bad_step(step)
            return
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(model)
        self.state["bad_steps"] = 0
        self.running.append(float(loss.detach()) / math.log(2))
        if self.state["step"] % config.log_every == 0:
            self.log_row(lr=lr)

    def bad_step(self, step: int) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.state["bad_steps"] += 1
        log.warning("non-finite loss or gradient at step %d: step skipped", step)
        if self.state["bad_steps"] > self.config.max_bad_steps:
            raise TrainingError(
                f"loss was NaN/inf for {self.state['bad_steps']} consecutive steps (last at step {step}); "
                f"training stopped, the last good checkpoint is in {self.out}"
            )

    # --- bookkeeping --------------------------------------------------------------------------------------

    def log_row(self, **extra: float) -> None:
        train_bpd = f"{sum(self.running) / len(self.running):.5f}" if self.running else ""
        self.running = []
        self.metrics.append(
            step=self.state["step"],
            epoch=self.state["epoch"],
            seconds=round(self.elapsed(), 2),
            train_bpd=train_bpd,
            **extra,
        )

    def evaluation_weights(self) -> AbstractContextManager:
        """The weights that are validated, kept and tested: the EMA ones when enabled."""
        return self.ema.applied(self.model) if self.ema is not None else nullcontext()

    def validate(self) -> float:
        with self.evaluation_weights():
            result = evaluate(self.model, self.splits["val"], self.config.eval_batch_size)
            if result["bpd"] < self.state["best_val"] or not self.has_best():
                self.state["best_val"] = result["bpd"]
                self.model.save(self.out)
        self.state["validated_at"] = self.state["step"]
        self.log_row(val_bpd=f"{result['bpd']:.5f}")
        self.metrics.plot(self.out / "loss.png", title=self.splits["train"].description)
        log.info("step %d: val %.4f bits/dim", self.state["step"], result["bpd"])
        return result["bpd"]

    def has_best(self) -> bool:
        return (self.out / "model.safetensors").is_file()

    def save_checkpoint(self) -> None:
        self.state["seconds"] = self.elapsed()
        extra = self.ema.tensors() if self.ema is not None else None
        checkpoint.save(self.out / "checkpoint", self.state["step"], self.model, self.optimizer, self.state, extra)

    def finish(self) -> dict[str, Any]:
        best = serialization.read_tensors(self.out / "model.safetensors")
        self.model.load_state_dict(best)
        test = evaluate(self.model, self.splits["test"], self.config.eval_batch_size)
        results = {
            "data": self.splits["test"].description,
            "test_nats": test["nats"],
            "test_bpd": test["bpd"],
            "best_val_bpd": self.state["best_val"],
            "steps": self.state["step"],
            "epochs": self.state["step"] / self.steps_per_epoch,
            "train_seconds": round(self.state["seconds"], 1),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }
        serialization.write_json(self.out / RESULTS_FILE, results)
        return results
