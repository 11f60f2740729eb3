"""Faults during training, on real processes: SIGKILL at random moments (also while checkpoints are written; 5
kills by default, 20 with `-m slow`)
never loses or corrupts a checkpoint and the resumed runs end with the weights of an uninterrupted run; SIGTERM and
SIGINT stop cleanly with a checkpoint and a message."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from chainrule import serialization
from chainrule.train import checkpoint

TRAIN = (
    "-m chainrule train --model made --data digits --levels 2 --binarize threshold --set hidden=[64] --quiet "
    "--batch-size 16 --precision fp32 --train-set checkpoint_every=1 --train-set log_every=5"
).split()
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def launch(out, *extra: str) -> subprocess.Popen:
    resume = ["--resume"] if (out / "run.json").exists() else []
    command = [sys.executable, *TRAIN, "--out", str(out), *resume, *extra]
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def checkpointed_step(out) -> int:
    pointer = out / "checkpoint" / checkpoint.POINTER
    return serialization.read_json(pointer)["step"] if pointer.exists() else -1


def final_weights(out) -> dict[str, torch.Tensor]:
    folder = serialization.read_json(out / "checkpoint" / checkpoint.POINTER)["folder"]
    return serialization.read_tensors(out / "checkpoint" / folder / "model.safetensors")


@pytest.mark.parametrize("kills_wanted", [5, pytest.param(20, marks=pytest.mark.slow)])
def test_sigkills_lose_nothing_and_end_with_the_uninterrupted_weights(tmp_path, kills_wanted):
    steps = "150"
    reference = launch(tmp_path / "straight", "--steps", steps)
    assert reference.wait(timeout=300) == 0, reference.stderr.read()[-2000:]
    out, rng, kills, last = tmp_path / "killed", random.Random(0), 0, -1
    # The checkpoints after which each kill falls are chosen in advance, so the number of kills does not depend on
    # the machine's speed; each kill lands at a random moment of the step after its checkpoint (also mid-write).
    targets = sorted(rng.sample(range(1, 2 * int(steps) // 3), kills_wanted))
    for _ in range(kills_wanted + 5):
        process = launch(out, "--steps", steps)
        if kills < kills_wanted:
            began, start = time.monotonic(), checkpointed_step(out)
            deadline = began + 120
            while checkpointed_step(out) < targets[kills] and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            reached = checkpointed_step(out)
            step_time = (time.monotonic() - began) / max(1, reached - start)
            time.sleep(rng.uniform(0.0, min(0.1, step_time)))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
        code = process.wait(timeout=300)
        assert code in (0, -signal.SIGKILL), process.stderr.read()[-2000:]
        now = checkpointed_step(out)
        assert now >= last  # a checkpoint is never lost or rolled back
        final_weights(out)  # and the latest one always reads back whole
        last = now
        if code == 0:
            break
    assert kills == kills_wanted and code == 0
    a, b = final_weights(tmp_path / "straight"), final_weights(out)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert serialization.read_json(out / "results.json")["steps"] == int(steps)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_a_checkpoint_and_exits_with_a_message(tmp_path, stop):
    out = tmp_path / "run"
    process = launch(out, "--steps", "100000", "--train-set", "checkpoint_every=100000")
    deadline = time.monotonic() + 120
    while not (out / "metrics.csv").exists() or len((out / "metrics.csv").read_text().splitlines()) < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-2000:]
        time.sleep(0.05)
    process.send_signal(stop)
    code = process.wait(timeout=120)
    error = process.stderr.read()
    assert code == 2 and f"stopped by {stop.name} at step" in error and "Traceback" not in error
    step = int(error.split("at step ")[1].split(";")[0])
    assert checkpointed_step(out) == step >= 5  # the step it stopped at, not an older periodic one
