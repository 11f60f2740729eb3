"""Every parser of user files, fed random and mutated bytes (Hypothesis): it returns a result or raises one of the
project's documented errors (a ChainruleError), never another exception, never hangs (deadline), never allocates
what the input cannot back. (The compressed container is fuzzed in tests/coding/test_codec.py.)"""

import io
import json
import struct
import wave

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save

import chainrule as cr
from chainrule import serialization
from chainrule.data.audio import read_wav
from chainrule.data.idx import parse_idx
from chainrule.data.png_folder import read_png
from chainrule.data.vocabulary import read_text
from chainrule.errors import ChainruleError
from chainrule.models import MODELS

FUZZ = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, truncations of a valid file, and the valid file with a few bytes overwritten."""
    flips = st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=8)

    def flipped(changes):
        data = bytearray(valid)
        for at, value in changes:
            data[at] = value
        return bytes(data)

    return st.one_of(st.binary(max_size=600), st.integers(0, len(valid)).map(lambda n: valid[:n]), flips.map(flipped))


def idx_file() -> bytes:
    return struct.pack(">BBBB", 0, 0, 8, 3) + struct.pack(">3I", 2, 3, 3) + bytes(range(18))


def png_file() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_file() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(np.arange(-200, 200, dtype=np.int16).tobytes())
    return buffer.getvalue()


def survives(parse, data: bytes) -> None:
    try:
        parse(data)
    except ChainruleError:
        pass


@FUZZ
@given(mutations(idx_file()))
def test_idx_parser(data):
    survives(parse_idx, data)


@FUZZ
@given(data=mutations(png_file()))
def test_png_reader(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    survives(lambda _: read_png(path), data)


@FUZZ
@given(data=mutations(wav_file()))
def test_wav_reader(tmp_path, data):
    path = tmp_path / "x.wav"
    path.write_bytes(data)
    survives(lambda _: read_wav(path, 8000), data)


@FUZZ
@given(data=st.binary(max_size=300))
def test_text_reader(tmp_path, data):
    path = tmp_path / "x.txt"
    path.write_bytes(data)
    survives(lambda _: read_text(path), data)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model")
    model = cr.models.create("transformer", shape=(8,), levels=5, **MODELS.get("transformer").tiny)
    model.save(directory)
    return directory


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(field=st.sampled_from(["width", "layers", "heads", "shape", "levels", "positions", "dropout"]), value=JSON)
def test_model_directory_with_a_crafted_config(saved_model, tmp_path, field, value):
    doc = serialization.read_json(saved_model / "config.json")
    doc["config"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(doc))
    (tmp_path / "model.safetensors").write_bytes((saved_model / "model.safetensors").read_bytes())
    survives(lambda _: cr.load(tmp_path), b"")


@FUZZ
@given(data=mutations(save({"w": torch.arange(6.0), "b": torch.ones(2, 3)})))
def test_weights_file(tmp_path, data):
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    survives(lambda _: serialization.read_tensors(path), data)


# 2^20: a 2^40-parameter model; 1,054,081,026 (found by the fuzzer): one 25 GB embedding, more than this machine
# holds, whose allocation fails inside its constructor
@pytest.mark.parametrize("width", [2**20, 1_054_081_026])
def test_a_config_promising_huge_weights_is_refused_before_allocating(saved_model, tmp_path, width):
    doc = serialization.read_json(saved_model / "config.json")
    doc["config"]["width"] = width
    (tmp_path / "config.json").write_text(json.dumps(doc))
    (tmp_path / "model.safetensors").write_bytes((saved_model / "model.safetensors").read_bytes())
    with pytest.raises(ChainruleError, match="bytes of weights|larger than its weights file|cannot be built"):
        cr.load(tmp_path)


@pytest.mark.parametrize("name, field, value", [("transformer", "layers", 10**7), ("made", "hidden", [10**5, 10**5])])
def test_a_config_promising_huge_work_is_stopped_within_seconds(saved_model, tmp_path, name, field, value):
    import time

    model = cr.models.create(name, shape=(8,), levels=5, **MODELS.get(name).tiny)
    model.save(tmp_path)
    doc = serialization.read_json(tmp_path / "config.json")
    doc["config"][field] = value  # ten million layers / a 10^10-weight MADE, refused after a few MB of tensors
    (tmp_path / "config.json").write_text(json.dumps(doc))
    start = time.perf_counter()
    with pytest.raises(ChainruleError, match="larger than its weights file"):
        cr.load(tmp_path)
    assert time.perf_counter() - start < 10


def test_oversized_json_and_a_pointer_out_of_the_checkpoint_folder_are_refused(tmp_path):
    from chainrule.errors import CheckpointError
    from chainrule.train import checkpoint

    big = tmp_path / "big.json"
    big.write_text(json.dumps({"x": "a" * (serialization.MAX_JSON_BYTES + 1)}))
    with pytest.raises(CheckpointError, match="refused"):
        serialization.read_json(big)
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    model = cr.models.create("made", shape=(4,), levels=2, hidden=(8,))
    optimizer = torch.optim.AdamW(model.parameters())
    for name in ("../elsewhere", "step-1/../../x", "/etc"):
        serialization.write_json(folder / checkpoint.POINTER, {"folder": name, "step": 1})
        with pytest.raises(CheckpointError, match="corrupt"):
            checkpoint.load(folder, model, optimizer)
