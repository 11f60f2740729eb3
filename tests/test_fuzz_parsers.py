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


# Crafted configs (one field of a tiny model's config.json edited), each refused from the config alone: within 1 s
# and 100 MB above the RSS of a fresh process after `import chainrule`. The audit's values (MADE num_masks=200000:
# 7.7 s and 1.3 GB before; MADE shape=[10^8]: 4.6 s and 2.5 GB; WaveNet layers=100000: 9.2 s) and ten times them,
# a 2^40-weight transformer, 1,054,081,026 (found by the fuzzer: one 25 GB embedding), ten million layers and a
# 10^10-weight MADE.
CRAFTED = [
    ("made", "num_masks", 200_000),
    ("made", "num_masks", 2_000_000),
    ("made", "shape", [100_000_000]),
    ("made", "shape", [1_000_000_000]),
    ("made", "hidden", [10**5, 10**5]),
    ("wavenet", "layers", 100_000),
    ("wavenet", "layers", 1_000_000),
    ("transformer", "width", 2**20),
    ("transformer", "width", 1_054_081_026),
    ("transformer", "layers", 10**7),
    ("pixelcnn++", "scales", 10**6),
    ("gated-pixelcnn", "channels", 2**20),
]

MEASURE = """
import json, resource, sys, time
import chainrule as cr
from chainrule.errors import ChainruleError

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

baseline, results = rss_mb(), []
for directory in sys.argv[1:]:
    start = time.perf_counter()
    try:
        cr.load(directory)
        message = None
    except ChainruleError as err:
        message = str(err)
    results.append({"seconds": time.perf_counter() - start, "mb": rss_mb() - baseline, "message": message})
print(json.dumps(results))
"""


def crafted_directory(root, name: str, field: str, value) -> str:
    shape = (1, 4, 4) if MODELS.get(name).kind == "image" else (8,)
    directory = root / f"{name}-{field}-{len(list(root.iterdir()))}"
    cr.models.create(name, shape=shape, levels=5, **MODELS.get(name).tiny).save(directory)
    doc = serialization.read_json(directory / "config.json")
    doc["config"][field] = value
    (directory / "config.json").write_text(json.dumps(doc))
    return str(directory)


def test_crafted_configs_are_refused_within_a_second_and_100_mb(tmp_path):
    import subprocess
    import sys

    directories = [crafted_directory(tmp_path, *case) for case in CRAFTED]
    done = subprocess.run([sys.executable, "-c", MEASURE, *directories], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for case, result in zip(CRAFTED, json.loads(done.stdout), strict=True):
        assert result["message"] and "refused" in result["message"], (case, result)
        assert result["seconds"] < 1.0, (case, result)
        assert result["mb"] < 100, (case, result)


@pytest.mark.parametrize("name", [n for n in cr.models.available()])
def test_a_weights_file_that_does_not_back_the_config_is_refused_before_building(tmp_path, name):
    kind = MODELS.get(name).kind
    shape = (1, 4, 4) if kind in ("image", "latent") else (2, 1, 3, 3) if kind == "video" else (8,)
    model = cr.models.create(name, shape=shape, levels=5, **MODELS.get(name).tiny)
    model.save(tmp_path)
    state = model.state_dict()
    first = next(iter(state))
    serialization.write_tensors(tmp_path / "model.safetensors", {**state, first: state[first].flatten()[:-1]})
    with pytest.raises(ChainruleError, match="does not match the model in config.json"):
        cr.load(tmp_path)


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


def test_an_infinite_integer_field_is_a_config_error():
    from chainrule import config as cfg
    from chainrule.errors import ConfigError
    from chainrule.models.made import MADEConfig

    with pytest.raises(ConfigError, match="must be int"):
        cfg.from_dict(MADEConfig, {"shape": [4], "levels": 2, "num_masks": float("inf")})
