"""Data-parallel training under torchrun: 2 gloo processes with batch B each train exactly as 1 process with
batch 2B, resume works under DDP, and only rank 0 writes the run directory."""

import os
import subprocess
import sys

import pytest
import torch

from chainrule import serialization
from chainrule.cli.main import main
from chainrule.train import checkpoint

TRAIN = (
    "train --model made --data digits --levels 2 --binarize threshold --set hidden=[32] --set num_masks=2 "
    "--lr 0.01 --quiet --train-set warmup_steps=2 --train-set log_every=1 --precision fp32"
).split()  # fp32: on a CPU with AMX, auto picks bf16, whose sums differ with the batch split


def torchrun(args: list[str], processes: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*command, "-m", "chainrule", *args], env=env, capture_output=True, text=True, timeout=300)


def final_weights(run) -> dict[str, torch.Tensor]:
    folder = run / "checkpoint" / serialization.read_json(run / "checkpoint" / checkpoint.POINTER)["folder"]
    return serialization.read_tensors(folder / "model.safetensors")


def train_losses(run) -> list[float]:
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    return [float(r.split(",")[4]) for r in rows if r.split(",")[4]]


def test_two_processes_match_one_with_the_doubled_batch_and_resume(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    done = torchrun([*TRAIN, "--batch-size", "8", "--steps", "4", "--out", str(two)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert main([*TRAIN, "--batch-size", "16", "--steps", "4", "--out", str(one)]) == 0
    # resume both to 7 steps: the 2-process run from its own checkpoint, under DDP again
    done = torchrun(["train", "--out", str(two), "--resume", "--steps", "7", "--quiet"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run directory:") == 1  # rank 0 alone reports
    assert main(["train", "--out", str(one), "--resume", "--steps", "7", "--quiet"]) == 0
    a, b = final_weights(two), final_weights(one)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
    losses_two, losses_one = train_losses(two), train_losses(one)
    assert len(losses_two) == len(losses_one) == 7
    assert losses_two == pytest.approx(losses_one, abs=1e-4)
    assert serialization.read_json(two / "results.json")["steps"] == 7
    # a checkpoint written by 2 processes is not resumed by 1
    assert main(["train", "--out", str(two), "--resume", "--steps", "8", "--quiet"]) == 2


def test_a_vqvae_codebook_is_the_same_under_two_processes_as_under_one(tmp_path):
    """The moving averages reduce the code counts and sums over processes: 2 processes with batch B end with the
    codebook 1 process with batch 2B gets (restarts off, so no random choice enters)."""
    vq = (
        "train --model vqvae --data digits --set hidden=8 --set residual_hidden=4 --set residual_layers=1 "
        "--set codes=16 --set code_dim=4 --set downsample=2 --set dead_below=0 --set decay=0.5 --lr 0.01 --quiet "
        "--precision fp32 --train-set warmup_steps=2"
    ).split()
    two, one = tmp_path / "two", tmp_path / "one"
    done = torchrun([*vq, "--batch-size", "8", "--steps", "3", "--out", str(two)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert main([*vq, "--batch-size", "16", "--steps", "3", "--out", str(one)]) == 0
    a, b = final_weights(two), final_weights(one)
    for name in ("quantizers.0.counts", "quantizers.0.sums", "quantizers.0.codebook", "decoder.0.weight"):
        assert torch.allclose(a[name], b[name], atol=1e-4), name
    assert float(a["quantizers.0.counts"].sum()) > 0
