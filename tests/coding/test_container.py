"""The compact file header, and decoding that does not depend on the caller's thread count."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

import chainrule as cr
from chainrule.coding import container
from chainrule.errors import CompressedFileError
from tests.conformance.test_contract import NAMES, grid, tiny


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("threads", [(1, 2), (2, 1)])
def test_a_file_decodes_at_another_thread_count_for_every_family(name, threads, restore_threads):
    model = tiny(name, grid(name, 3, 4), 16)
    x = torch.randint(0, 16, (3, *model.shape), generator=torch.Generator().manual_seed(0))
    torch.set_num_threads(threads[0])
    blob = cr.coding.compress(model, x)
    assert torch.get_num_threads() == threads[0]  # the caller's count is left as it was
    torch.set_num_threads(threads[1])
    assert torch.equal(cr.coding.decompress(model, blob), x)
    assert torch.get_num_threads() == threads[1]
    assert container.unpack(blob)[0].threads == threads[0]


DECODE = """
import sys, torch, chainrule as cr
torch.set_num_threads(int(sys.argv[1]))
model = cr.load("zoo:gated-pixelcnn-fashion-mnist")
y = cr.coding.decompress(model, open(sys.argv[2], "rb").read())
torch.save(y, sys.argv[3])
"""


def test_the_zoo_reproducer_decodes_across_processes_and_thread_counts(tmp_path, restore_threads):
    # the audit's case: two Fashion-MNIST test images at 256 levels, 1 thread then 2 (failed the checksum before)
    model = cr.load("zoo:gated-pixelcnn-fashion-mnist")
    x = cr.data.load("fashion-mnist", split="test", levels=256).x[:2]
    torch.set_num_threads(1)
    (tmp_path / "x.crac").write_bytes(cr.coding.compress(model, x))
    command = [sys.executable, "-c", DECODE, "2", str(tmp_path / "x.crac"), str(tmp_path / "y.pt")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert torch.equal(torch.load(tmp_path / "y.pt"), x)


def test_a_file_from_another_pytorch_build_or_cpu_kind_is_refused_before_decoding():
    model = tiny("pixelcnn", (1, 3, 3), 4)
    header, payload = container.unpack(cr.coding.compress(model, torch.zeros(1, 1, 3, 3, dtype=torch.long)))
    header.build ^= 0x5A
    with pytest.raises(CompressedFileError, match="another PyTorch build or CPU kind.*CPU capability"):
        cr.coding.decompress(model, container.pack(header, payload))


def test_a_file_of_one_image_costs_at_most_20_bytes_over_its_information():
    torch.manual_seed(0)
    model = cr.models.create("pixelcnn", shape=(1, 28, 28), levels=256, channels=6, blocks=1, hidden=12).eval()
    worst = -1
    for seed in range(8):
        x = torch.randint(0, 256, (1, 1, 28, 28), generator=torch.Generator().manual_seed(seed))
        x[:, :, : 14 + seed] = 0  # files of different sizes
        stats: dict = {}
        blob = cr.coding.compress(model, x, stats=stats)
        worst = max(worst, len(blob) - math.ceil(stats["model_bits"] / 8))
        assert torch.equal(cr.coding.decompress(model, blob), x)
    assert worst <= 20
    header, payload = container.unpack(blob)
    assert len(blob) - len(payload) == 16  # magic 2, version, flags, threads, build, fingerprint 3, count, CRCs 4 + 2


def test_a_format_1_file_is_refused_with_a_clear_message():
    with pytest.raises(CompressedFileError, match="format 1 of an older chainrule"):
        cr.coding.decompress(tiny("pixelcnn", (1, 3, 3), 4), b"CRAC\x01" + bytes(80))
