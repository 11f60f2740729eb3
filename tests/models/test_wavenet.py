"""WaveNet and audio data: receptive field, conditioning, fast generation, μ-law, WAV files and their errors."""

import struct

import pytest
import torch

import chainrule as cr
from chainrule.data.audio import audio_datasets, read_wav, write_wav
from chainrule.data.mulaw import decode, encode, mulaw_decode, mulaw_encode
from chainrule.errors import InputError
from chainrule.models import MODELS
from chainrule.sampling import generate, generate_naive, sample_cached, sample_naive
from tests.helpers import enumerate_space, spread_parameters


def build(length=40, levels=5, **extra):
    torch.manual_seed(0)
    model = cr.models.create("wavenet", shape=(length,), levels=levels, **{**MODELS.get("wavenet").tiny, **extra})
    spread_parameters(model)
    return model.eval()


def moved(model, x, at, position):
    """Does the conditional distribution of sample `at` change when sample `position` does?"""
    y = x.clone()
    y[:, position] = (y[:, position] + 1) % model.levels
    with torch.no_grad():
        return not torch.allclose(model(x)[:, at], model(y)[:, at])


def test_receptive_field_equals_the_formula_and_nothing_later_is_read():
    model = build(layers=3, stacks=2, kernel=2)
    assert model.receptive_field == 1 * 2 * (2**3 - 1) + 1 == 15
    x = torch.randint(0, 5, (6, 40), generator=torch.Generator().manual_seed(0))
    t = 30
    assert moved(model, x, t, t - 15)  # the oldest sample it reads
    assert not moved(model, x, t, t - 16)  # just outside
    assert not moved(model, x, t, t) and not moved(model, x, t, t + 3)
    assert build(layers=2, stacks=1, kernel=3).receptive_field == 2 * 3 + 1


def test_logistic_head_normalises():
    model = build(length=3, levels=4, head="logistic")
    xs = enumerate_space((3,), 4)
    with torch.no_grad():
        assert model.log_prob(xs).exp().sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("conditioning", ["class", "local"])
def test_conditioning_changes_the_distribution_and_cached_equals_naive(conditioning):
    if conditioning == "class":
        model = build(length=12, num_classes=3)
        a, b = torch.tensor([0, 0]), torch.tensor([1, 2])
    else:
        model = build(length=12, local_channels=2, hop=4)
        a, b = torch.zeros(2, 2, 3), torch.randn(2, 2, 3)
    x = torch.randint(0, 5, (2, 12))
    with torch.no_grad():
        assert not torch.allclose(model.log_prob(x, a), model.log_prob(x, b))
    fast = sample_cached(model, 2, cond=b, generator=torch.Generator().manual_seed(1))
    slow = sample_naive(model, 2, cond=b, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fast, slow)
    with pytest.raises(InputError):
        model.log_prob(x, torch.zeros(2, 5, 3) if conditioning == "local" else torch.tensor([0, 3]))


def test_a_class_conditional_wavenet_starts_as_the_unconditional_one():
    torch.manual_seed(0)
    model = cr.models.create("wavenet", shape=(12,), levels=5, **{**MODELS.get("wavenet").tiny, "num_classes": 3})
    x = torch.randint(0, 5, (3, 12))
    with torch.no_grad():
        per_class = [model.log_prob(x, torch.full((3,), k)) for k in range(3)]
        unconditional = model.log_prob(x)
    assert torch.equal(per_class[0], per_class[1]) and torch.equal(per_class[0], per_class[2])
    assert torch.allclose(per_class[0], unconditional)


@pytest.mark.parametrize("kernel, stacks", [(2, 1), (3, 2)])
def test_each_cached_step_gives_the_conditional_of_the_full_pass(kernel, stacks):
    model = build(length=60, layers=3, stacks=stacks, kernel=kernel)
    assert model.receptive_field < 60  # the ring buffers wrap around
    x = torch.randint(0, 5, (3, 60), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = torch.log_softmax(model(x), dim=-1)
        cache, previous = model.init_cache(3), None
        for t in range(60):
            step = model.cache_step(cache, previous)
            assert torch.allclose(step, full[:, t], atol=1e-5), t
            previous = x[:, t]


def test_fast_generation_past_the_crop_length_equals_naive_and_streams_score_exactly():
    model = build(length=16, layers=3, stacks=1)
    prompt = torch.randint(0, 5, (20,), generator=torch.Generator().manual_seed(2))
    fast = generate(model, prompt, 30, generator=torch.Generator().manual_seed(3))
    slow = generate_naive(model, prompt, 30, generator=torch.Generator().manual_seed(3))
    assert torch.equal(fast, slow)
    tokens = torch.cat([prompt, fast])
    whole = build(length=50, layers=3, stacks=1)
    with torch.no_grad():
        one_pass = whole.log_prob(tokens[None], reduction="none")[0]
    assert torch.allclose(model.stream_log_probs(tokens, window=7), one_pass, atol=1e-5)


def test_mulaw_known_values_and_round_trip():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.01, 0.5, 1.0])
    codes = mulaw_encode(x)
    assert codes[0] == 0 and codes[2] == 128 and codes[-1] == 255
    assert torch.equal(mulaw_encode(mulaw_decode(torch.arange(256))), torch.arange(256))
    assert (mulaw_decode(codes) - x).abs().max() < 0.05  # coarse at the loud end, fine near zero
    assert (mulaw_decode(mulaw_encode(torch.tensor([0.001]))) - 0.001).abs() < 1e-4
    for enc in ("pcm8", "pcm16"):
        assert torch.equal(encode(decode(torch.tensor([0, 100, 128, 255]), enc), enc), torch.tensor([0, 100, 128, 255]))


def test_wav_round_trip_and_resampling(tmp_path):
    t = torch.arange(8000) / 8000
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    write_wav(tmp_path / "a.wav", tone, 8000)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and abs(back - tone.numpy()).max() < 1 / 32768 + 1e-6
    up, rate = read_wav(tmp_path / "a.wav", rate=16000)
    assert rate == 16000 and len(up) == 16000


def test_bad_audio_files_give_clear_errors(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio at all")
    write_wav(tmp_path / "good.wav", torch.zeros(100), 8000)
    (tmp_path / "cut.wav").write_bytes((tmp_path / "good.wav").read_bytes()[:30])
    # a RIFF/WAVE header with an unsupported format code (0x0055, MP3 in WAV)
    fmt = struct.pack("<HHIIHH", 0x0055, 1, 8000, 1000, 1, 0)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 4) + b"\0" * 4
    (tmp_path / "mp3.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    for name, message in [
        ("empty", "empty"),
        ("text", "not a readable audio"),
        ("cut", "not a readable audio"),
        ("mp3", "not a readable audio"),
    ]:
        with pytest.raises(InputError, match=message):
            read_wav(tmp_path / f"{name}.wav")


def test_audio_folder_splits_by_file_and_crops_at_random(tmp_path):
    for i in range(10):
        write_wav(tmp_path / f"f{i}.wav", 0.1 * torch.randn(900), 8000)
    splits = audio_datasets("mine", tmp_path, length=256)
    assert splits["train"].source_files == 8 and splits["test"].source_files == 1
    assert splits["train"].kind == cr.data.DataKind.audio(256, "mulaw", 8000)
    x, _ = splits["train"].batch(torch.arange(5), generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 256) and int(x.max()) < 256
    tokens = splits["train"].tokens
    row = x[0]
    starts = [s for s in range(len(tokens) - 255) if torch.equal(tokens[s : s + 256], row)]
    assert starts  # a real crop of the stream
    assert not splits["val"].random_crops
