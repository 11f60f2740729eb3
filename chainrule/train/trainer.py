"""The one training loop, for every model of the training contract in `models/trainable.py`: maximum likelihood
for the autoregressive models (`models/base.py`), the model's own objective for the others (the VQ-VAE).

AdamW with warm-up + cosine, gradient clipping, an optional EMA of the weights (validated, kept and tested in place
of the raw ones), a budget in epochs / steps / minutes, validation with the best weights kept in the run
directory, resumable checkpoints, a NaN/inf guard, bf16 autocast where the device has fast bf16 units
(`train.precision`), a progress bar, `metrics.csv` and `loss.png`. The test split is evaluated once, at the end,
with the best weights.

Under torchrun (`train.distributed`) every process runs this same loop on its shard of each batch, through
DistributedDataParallel; the processes agree on the budget, on skipping a bad step and on the reported losses, and
only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import signal
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from chainrule import serialization
from chainrule.data import Dataset
from chainrule.errors import TrainingError
from chainrule.models.trainable import Trainable
from chainrule.train import checkpoint, distributed, speed
from chainrule.train.config import TrainConfig
from chainrule.train.ema import ExponentialMovingAverage
from chainrule.train.evaluate import evaluate
from chainrule.train.metrics import MetricsLog
from chainrule.train.precision import training_precision
from chainrule.train.schedules import warmup_cosine
from chainrule.train.tensorboard import TensorBoardLog

log = logging.getLogger(__name__)
RESULTS_FILE = "results.json"


PROBE_WORTH_STEPS = 50  # `auto` precision is timed (a few passes each way) only for runs longer than this


def stream_order(rows: int, batch_size: int) -> torch.Tensor:
    """Row order for truncated BPTT over a token stream cut into `rows` consecutive chunks: the chunks are dealt
    into `batch_size` contiguous streams, and batch k holds chunk k of every stream, so that each batch continues
    the previous one row by row."""
    per_stream = rows // batch_size
    if per_stream == 0:
        return torch.arange(rows)
    grid = torch.arange(per_stream * batch_size).reshape(batch_size, per_stream)
    return grid.t().reshape(-1)


class StopRequested(Exception):
    """A stop signal arrived; raised between steps, where the state is consistent."""


@contextmanager
def stop_signals(requested: list[int]) -> Iterator[None]:
    """While training, SIGINT and SIGTERM ask the loop to stop after the current step (`requested` receives the
    signal number); a second signal interrupts at once. Main thread only (signals cannot be handled elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def perturb(x: Tensor, levels: int, rate: float, generator: torch.Generator) -> Tensor:
    """x with each value replaced by a uniformly random level with probability `rate` (a background model's
    training data, Ren et al. 2019)."""
    hit = torch.rand(x.shape, generator=generator) < rate
    noise = torch.randint(0, levels, x.shape, generator=generator)
    return torch.where(hit, noise, x)


def l2_penalty(matrices: list[torch.nn.Parameter], weight: float, dims: int) -> Tensor:
    """Ren et al.'s L2 penalty on a loss in nats per dimension: weight · Σ w² / dims (weight · Σ w² per example)."""
    return weight * sum(p.float().square().sum() for p in matrices) / dims


class Trainer:
    """Trains `model` on `splits` ("train", "val", "test" datasets), writing into the run directory `out`."""

    def __init__(
        self,
        model: Trainable,
        splits: dict[str, Dataset],
        config: TrainConfig,
        out: Path,
        progress: bool = True,
        ranks: distributed.Ranks | None = None,
    ) -> None:
        self.config = config
        self.ranks = ranks or distributed.Ranks()
        self.device = torch.device(config.device)
        self.model = speed.apply_memory_format(model.to(self.device), config.channels_last)
        train = splits["train"]
        self.carries_state = train.is_stream and model.carries_state
        if train.is_stream and not self.carries_state and not train.random_crops:
            # a model without carried state trains on windows at random offsets of the stream, so that no epoch
            # cuts the text at the same places (the rows stay the validation and test chunks)
            splits = {**splits, "train": dataclasses.replace(train, random_crops=True)}
        self.splits = splits
        # what each evaluation scores: all of a split, or an even spread of it for a short run (`eval_examples`)
        self.evaluated = {name: splits[name].spread(config.eval_limit(len(splits[name]))) for name in ("val", "test")}
        self.out = Path(out)
        self.progress = progress and self.ranks.main
        # forward = the training objective (DDP-wrapped under torchrun, compiled if asked for)
        self.net = speed.compiled(distributed.wrap(self.model, self.ranks, self.device), config.compile)
        self.optimizer = speed.optimizer(model, config.lr, config.weight_decay, config.fused, config.betas)
        self.matrices = speed.matrices(model)  # what `l2` penalises
        self.state: dict[str, Any] = {
            "step": 0,
            "epoch": 0,
            "batch": 0,
            "seconds": 0.0,
            "best_val": math.inf,
            "bad_steps": 0,
            "world": self.ranks.world,
        }
        self.fraction = 0.0
        self.stop_requested: list[int] = []  # the signal that asked training to stop
        self.running: dict[str, list[float]] = {m: [] for m in model.metric_columns}
        self.ema = ExponentialMovingAverage(model, config.ema) if config.ema else None
        self.steps_per_epoch = math.ceil(len(self.epoch_order(0)) / config.batch_size)  # per process
        self.precision = "fp32"  # until `fit` resolves it: a resumed run keeps the precision it started in
        limits = [s for s in (config.steps, config.budget_epochs * self.steps_per_epoch) if s]
        self.total_steps = min(limits) if limits else 0

    def time_pass(self, precision: str, passes: int = 3) -> float:
        """Median seconds of a forward and backward pass on the first training batch in `precision` (for
        `precision="auto"`); leaves the weights, the gradients and the random state as they were."""
        train = self.splits["train"]
        index = torch.arange(min(self.config.batch_size, len(train)))
        x, y = train.batch(index, generator=torch.Generator().manual_seed(self.config.seed))
        x = x.to(self.device)
        model = self.model
        cond = train.condition(index, y, bool(model.num_classes), bool(model.map_shape), self.device)
        state = torch.random.get_rng_state()
        was_training = self.model.training
        self.model.train()
        times = []
        try:
            for _ in range(passes + 1):  # the first warms up
                start = time.perf_counter()
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                    loss = self.model.objective(x, cond, 0)[0]
                loss.backward()
                times.append(time.perf_counter() - start)
        except RuntimeError as err:  # e.g. oneDNN has no bf16 LSTM on this CPU
            log.info("a %s training pass failed (%s): not chosen", precision, str(err).splitlines()[0])
            return math.inf
        finally:
            self.optimizer.zero_grad(set_to_none=True)
            torch.random.set_rng_state(state)
            self.model.reset_carry()
            self.model.train(was_training)
        return statistics.median(times[1:])

    # --- budget -------------------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def progress_fraction(self) -> float:
        """Share of the budget used; the same on every process (the largest of their clocks)."""
        fractions = [self.state["step"] / self.total_steps] if self.total_steps else []
        if self.config.minutes:
            minutes = distributed.largest(self.elapsed() / (60 * self.config.minutes), self.ranks)
            fractions.append(minutes)
        return max(fractions, default=0.0)

    def done(self) -> bool:
        return self.fraction >= 1.0

    # --- the loop -----------------------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train until the budget is used, then evaluate the best weights on the test split.

        Returns:
            The results written to `results.json` (test nats and bits/dim, steps, seconds, ...).
        Raises:
            TrainingError: when the loss stays non-finite or training is interrupted (a checkpoint is kept).
        """
        self.out.mkdir(parents=True, exist_ok=True)
        if resume and not checkpoint.exists(self.out / "checkpoint"):
            log.info("no checkpoint in %s yet (stopped before the first one): starting from step 0", self.out)
            resume = False
        if resume:
            state, extra = checkpoint.load(self.out / "checkpoint", self.model, self.optimizer)
            if state.get("world", 1) != self.ranks.world:
                raise TrainingError(
                    f"the checkpoint in {self.out} was written by {state.get('world', 1)} process(es); "
                    f"resume it with the same number (here {self.ranks.world})"
                )
            self.state.update(state)
            if self.ema is not None:
                try:
                    self.ema.load(extra)
                except ValueError as err:
                    raise TrainingError(f"cannot resume {self.out}: {err}") from None
            log.info("resumed at step %d", self.state["step"])
        if "precision" not in self.state:  # `auto` is timed once per run, so a resume cannot switch precision
            # every process must pick the same; a run shorter than the probe's own passes is not worth timing
            short = 0 < self.total_steps <= PROBE_WORTH_STEPS
            probe = None if self.ranks.distributed or short else self.time_pass
            self.state["precision"] = training_precision(self.config.precision, self.device, probe=probe)
        self.precision = self.state["precision"]  # "fp32" or "bf16"
        log.info("training precision: %s (asked: %s)", self.precision, self.config.precision)
        self.metrics = (
            MetricsLog(
                self.out / "metrics.csv",
                self.state["step"] if resume else None,
                self.model.metric_columns,
                self.model.selection_metric,
            )
            if self.ranks.main
            else None
        )
        self.board = (
            TensorBoardLog(self.out / "tensorboard", self.state["step"] if resume else None)
            if self.config.tensorboard and self.ranks.main
            else None
        )
        self.started = time.monotonic() - self.state["seconds"]
        self.fraction = self.progress_fraction()
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
            self.train_and_checkpoint(bar)
        finally:  # the TensorBoard event file is flushed and closed however training ends
            if self.board is not None:
                self.board.close()
        return self.finish()

    def train_and_checkpoint(self, bar: tqdm) -> None:
        """Run the epochs, then validate (unless that step was) and checkpoint the final weights."""
        try:
            with stop_signals(self.stop_requested):
                self.run_epochs(bar)
        except StopRequested:  # SIGINT (Ctrl-C) or SIGTERM, seen between two steps: checkpoint that step
            self.save_checkpoint()
            name = signal.Signals(self.stop_requested[0]).name if self.stop_requested else "a signal"
            raise TrainingError(
                f"stopped by {name} at step {self.state['step']}; checkpoint saved in {self.out}, "
                "continue with --resume"
            ) from None
        except KeyboardInterrupt:  # a second signal: stop at once, the last periodic checkpoint stays
            raise TrainingError(f"interrupted; resume from the last checkpoint in {self.out} with --resume") from None
        finally:
            bar.close()
        if self.state.get("validated_at") != self.state["step"]:
            self.validate()
        self.save_checkpoint()

    def run_epochs(self, bar: tqdm) -> None:
        train, batch_size, config = self.splits["train"], self.config.batch_size, self.config
        while not self.done():
            epoch = self.state["epoch"]
            order, train = self.epoch_order(epoch), self.epoch_train(epoch)
            self.model.reset_carry()
            while self.state["batch"] < self.steps_per_epoch and not self.done():
                b = self.state["batch"]
                self.train_step(train, order[b * batch_size : (b + 1) * batch_size])
                self.state["batch"] = b + 1
                self.fraction = self.progress_fraction()
                bar.update(1)
                shown = self.model.metric_columns[0]
                if self.running[shown]:
                    values = self.running[shown]
                    bar.set_postfix({shown: f"{sum(values) / len(values):.4f}", "epoch": epoch})
                step = self.state["step"]
                if self.state["batch"] == self.steps_per_epoch:
                    self.state["epoch"], self.state["batch"] = epoch + 1, 0
                    self.validate()
                    self.save_checkpoint()
                    self.check_stop()
                    break
                if config.eval_every and step % config.eval_every == 0:
                    self.validate()
                if step % config.checkpoint_every == 0:
                    self.save_checkpoint()
                self.check_stop()

    def check_stop(self) -> None:
        """Between steps: stop if a signal asked for it (on every process, if one of them got it)."""
        if distributed.largest(float(bool(self.stop_requested)), self.ranks) > 0:
            raise StopRequested

    def epoch_rows(self) -> int:
        """Training rows per epoch: for models that carry state, one fewer than the split has, so that every
        epoch's rows can start at any offset below the row length."""
        n = len(self.splits["train"])
        return n - 1 if self.carries_state and n > 1 else n

    def epoch_train(self, epoch: int) -> Dataset:
        """The training split of this epoch: for models that carry state, the stream re-cut at an offset in
        [0, T) drawn from (seed, epoch), the same on every process and after a resume."""
        train = self.splits["train"]
        if not self.carries_state or self.epoch_rows() == len(train):
            return train
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        offset = int(torch.randint(0, train.shape[0], (1,), generator=generator))
        return train.stream_rows(offset, self.epoch_rows())

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """This process's examples for the epoch, in order: a shard of a permutation seeded by (seed, epoch) (the
        shards of one batch together are the batch a single process with N times the batch would take); for
        models that carry state over a stream, consecutive chunks of parallel streams, with no shuffling."""
        n, ranks = self.epoch_rows(), self.ranks
        # streams: batch k holds chunk k of every stream (chunks past the last whole batch are left out), and
        # each process keeps its own streams
        base = stream_order(n, self.config.batch_size * ranks.world) if self.carries_state else torch.arange(n)
        sampler = DistributedSampler(
            range(len(base)), ranks.world, ranks.rank, shuffle=not self.carries_state, seed=self.config.seed
        )
        sampler.set_epoch(epoch)
        return base[torch.tensor(list(sampler), dtype=torch.long)]

    def train_step(self, train: Dataset, index: torch.Tensor) -> None:
        config, model, step, ranks = self.config, self.model, self.state["step"], self.ranks
        seed = config.seed * 1_000_003 + step * ranks.world + ranks.rank  # random crops, dynamic binarization
        x, y = train.batch(index, generator=torch.Generator().manual_seed(seed))
        if config.perturb:
            x = perturb(x, model.levels, config.perturb, torch.Generator().manual_seed(seed + 1))
        if self.device.type == "cuda":  # page-locked, so the copy overlaps with the previous step's kernels
            x = x.pin_memory()
        x = x.to(self.device, non_blocking=True)
        cond = train.condition(index, y, bool(model.num_classes), bool(model.map_shape), self.device)
        lr = config.lr * warmup_cosine(step, self.fraction, config.warmup_steps, config.final_lr_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            loss, metrics = self.net(x, cond, step)  # a likelihood model's loss: nats per dimension
        loss = loss.float()
        if config.l2:
            loss = loss + l2_penalty(self.matrices, config.l2, x[0].numel())
        self.optimizer.zero_grad(set_to_none=True)
        ok = bool(torch.isfinite(loss))
        if ranks.distributed:  # all skip the step, or none does
            ok = distributed.total([float(not ok)], ranks)[0] == 0
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
        model.after_step()
        if self.ema is not None:
            self.ema.update(model)
        self.state["bad_steps"] = 0
        for name, values in self.running.items():
            values.append(float(metrics[name]))
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

    def log_row(self, **extra: float | str) -> None:
        """A metrics row; each training metric is the mean over the steps since the last row and over processes."""
        names = list(self.running)
        sums = distributed.total([sum(self.running[m]) for m in names] + [len(self.running[names[0]])], self.ranks)
        count = sums[-1]
        train = {f"train_{m}": f"{value / count:.5f}" if count else "" for m, value in zip(names, sums, strict=False)}
        self.running = {m: [] for m in names}
        if self.board is not None:
            self.board.scalars(self.state["step"], {**train, **extra})
        if self.metrics is None:
            return
        self.metrics.append(
            step=self.state["step"],
            epoch=self.state["epoch"],
            seconds=round(self.elapsed(), 2),
            **train,
            **extra,
        )

    def evaluation_weights(self) -> AbstractContextManager:
        """The weights that are validated, kept and tested: the EMA ones when enabled."""
        return self.ema.applied(self.model) if self.ema is not None else nullcontext()

    def validate(self) -> float:
        """Evaluate the validation split, keep the weights when the selection metric is the best so far."""
        chosen = self.model.selection_metric
        with self.evaluation_weights():
            result = self.evaluate_split("val")
            if result[chosen] < self.state["best_val"] or not self.state.get("saved_best"):
                self.state["best_val"], self.state["saved_best"] = result[chosen], True
                if self.ranks.main:
                    self.model.save(self.out)
            if self.board is not None:
                self.board.samples(self.state["step"], self.model, self.config.seed)
        self.state["validated_at"] = self.state["step"]
        self.log_row(**{f"val_{m}": f"{result[m]:.5f}" for m in self.model.metric_columns if m in result})
        if self.metrics is not None:
            self.metrics.plot(self.out / "loss.png", title=self.splits["train"].description)
            log.info("step %d: val %s %.4f", self.state["step"], chosen, result[chosen])
        return result[chosen]

    def evaluate_split(self, name: str) -> dict[str, float]:
        """Evaluate the validation or test split (or the spread of it a short run evaluates), with a progress bar."""
        part = self.evaluated[name]
        what = "validation" if name == "val" else name
        desc = what if len(part) == len(self.splits[name]) else f"{what} ({len(part):,} of {len(self.splits[name]):,})"
        return evaluate(
            self.model, part, self.config.eval_batch_size, ranks=self.ranks, progress=self.progress, desc=desc
        )

    def evaluated_note(self) -> dict[str, int]:
        """`test_examples` / `test_examples_of` when a short run tested an even spread of the test split."""
        part, whole = self.evaluated["test"], self.splits["test"]
        return {} if len(part) == len(whole) else {"test_examples": len(part), "test_examples_of": len(whole)}

    def save_checkpoint(self) -> None:
        self.state["seconds"] = self.elapsed()
        if not self.ranks.main:
            return
        extra = self.ema.tensors() if self.ema is not None else None
        checkpoint.save(self.out / "checkpoint", self.state["step"], self.model, self.optimizer, self.state, extra)

    def finish(self) -> dict[str, Any]:
        distributed.wait(self.ranks)  # rank 0 has written the best weights
        best = serialization.read_tensors(self.out / "model.safetensors")
        self.model.load_state_dict(best)
        test = self.evaluate_split("test")
        results = {
            "data": self.splits["test"].description,
            **self.evaluated_note(),
            **{f"test_{key}": value for key, value in test.items() if key != "examples"},
            f"best_val_{self.model.selection_metric}": self.state["best_val"],
            "steps": self.state["step"],
            "epochs": self.state["step"] / self.steps_per_epoch,
            "train_seconds": round(self.state["seconds"], 1),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "precision": self.precision,
        }
        if self.ranks.main:
            serialization.write_json(self.out / RESULTS_FILE, results)
        return results
