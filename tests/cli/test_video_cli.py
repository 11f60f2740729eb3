"""Videos through every command: the moving-mnist source and its stream, training (and resuming) a tiny VPN, the
frame-prediction protocol, samples and predictions as GIF / PNG / .npy, scoring, lossless compression, and the one
line a bad file gets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import chainrule as cr
from chainrule.cli.main import main
from chainrule.data.sources import load_run_data, run_spec
from chainrule.models import MODELS
from chainrule.serialization import read_tensors

GEOMETRY = dict(frames=3, size=28, digits=1)  # the smallest protocol variant: one digit, no room to move
TINY = ["--set", "channels=4", "--set", "layers=2", "--set", "hidden=8", "--set", "encoder_channels=4"]
TINY += ["--set", "lstm_channels=4", "--set", "dilations=[1]", "--set", "first_kernel=3"]


@pytest.fixture(scope="module")
def splits():
    return cr.data.load_splits("moving-mnist", video=dict(frames=4, size=32, digits=2))


def test_the_source_has_an_endless_stream_and_fixed_held_out_sets(splits):
    train, val, test = splits["train"], splits["val"], splits["test"]
    assert train.shape == (4, 1, 32, 32) and train.kind.is_video and train.levels == 256
    assert (len(train), len(val), len(test)) == (10_000, 500, 10_000)
    assert train.fresh is not None and len(train.fresh.digits) == 4000  # training digits only
    a, _ = train.batch(torch.arange(3), torch.Generator().manual_seed(7))
    b, _ = train.batch(torch.arange(3), torch.Generator().manual_seed(7))
    c, _ = train.batch(torch.arange(3), torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)  # a pure function of the trainer's (seed, step, process)
    fixed, _ = train.batch(torch.arange(5))
    assert torch.equal(fixed, train.x[:5])  # without a generator: the stream's own fixed sequences
    again = cr.data.load_splits("moving-mnist", video=dict(frames=4, size=32, digits=2))
    assert torch.equal(again["test"].x, test.x)


def test_a_run_records_the_geometry_and_reads_the_same_data_back(splits):
    spec = run_spec(splits["train"])
    assert spec["video"] == {"frames": 4, "size": 32, "digits": 2} and spec["kind"]["name"] == "video"
    assert torch.equal(load_run_data(spec)["test"].x[:20], splits["test"].x[:20])


def test_soft_binarization_gives_probabilities_and_thresholded_values(splits):
    soft = cr.data.load_splits("moving-mnist", levels=2, binarize="soft", video=dict(frames=4, size=32, digits=2))
    p, _ = soft["test"].batch(torch.arange(2))
    assert p.dtype == torch.float32 and float(p.min()) >= 0 and float(p.max()) <= 1
    assert torch.equal(p, splits["test"].raw[:2].float() / 255)
    assert torch.equal(soft["test"].x[:2], (splits["test"].raw[:2].long() > 127).long())


def test_bad_geometry_and_options_are_refused():
    with pytest.raises(cr.errors.ConfigError, match="size"):
        cr.data.load_splits("moving-mnist", video=dict(size=20))
    with pytest.raises(cr.errors.ConfigError, match="video"):
        cr.data.load_splits("moving-mnist", vocab="chars")
    with pytest.raises(cr.errors.ConfigError, match="frames, size and digits"):
        cr.data.load_splits("mnist-5k", video=dict(frames=3))


def train(tmp_path, name, *extra, steps=3):
    out = tmp_path / name
    argv = ["train", "--model", "vpn", "--data", "moving-mnist", "--frames", "3", "--size", "28", "--digits", "1"]
    argv += [*TINY, "--steps", str(steps), "--batch-size", "2", "--out", str(out), "--quiet", *extra]
    argv += ["--train-set", "eval_examples=4", "--seed", "3"]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def grey_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("video"), "grey", "--levels", "4")


@pytest.fixture(scope="module")
def soft_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("video"), "soft", "--levels", "2", "--binarize", "soft")


def test_the_stream_is_the_same_after_a_resume(tmp_path):
    straight = train(tmp_path, "straight", "--levels", "2", steps=4)
    half = train(tmp_path, "half", "--levels", "2", steps=2)
    assert main(["train", "--out", str(half), "--resume", "--steps", "4", "--quiet"]) == 0
    a = read_tensors(straight / "checkpoint" / "step-000000004" / "model.safetensors")
    b = read_tensors(half / "checkpoint" / "step-000000004" / "model.safetensors")
    assert set(a) == set(b) and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_eval_reports_the_frame_prediction_protocol(soft_run, grey_run, capsys):
    assert main(["eval", str(soft_run), "--given", "1", "--limit", "6", "--quiet"]) == 0
    line = capsys.readouterr().out
    assert "frames 2-3 given the first 1" in line and "nats/frame" in line and "entropy (the floor)" in line
    assert main(["eval", str(grey_run), "--given", "2", "--limit", "6", "--quiet"]) == 0
    assert "NLL of frames 3-3" in capsys.readouterr().out
    assert main(["eval", str(grey_run), "--given", "3", "--limit", "6"]) == 2
    assert "--given 3" in capsys.readouterr().err


def test_the_protocol_figure_is_the_sum_of_the_predicted_frames(grey_run):
    from chainrule.train.evaluate import evaluate_frames

    model = cr.load(grey_run)
    data = cr.data.load_splits("moving-mnist", levels=4, video=GEOMETRY)["test"].spread(5)
    result = evaluate_frames(model, data, given=1)
    with torch.no_grad():
        per_frame = model.log_prob(data.x, reduction="none").flatten(2).sum(2)
    assert result["nats_per_frame"] == pytest.approx(-float(per_frame[:, 1:].double().mean()), rel=1e-6)
    assert result["bpd"] == pytest.approx(result["nats_per_frame"] / (28 * 28 * np.log(2)))


@pytest.mark.parametrize("suffix", ["gif", "png", "npy"])
def test_sample_writes_videos(grey_run, tmp_path, suffix):
    out = tmp_path / f"s.{suffix}"
    assert main(["sample", str(grey_run), "-n", "2", "-o", str(out), "--seed", "1"]) == 0
    if suffix == "npy":
        x = np.load(out)
        assert x.shape == (2, 3, 1, 28, 28) and x.max() < 4
    elif suffix == "gif":
        with Image.open(out) as image:
            assert image.is_animated and image.n_frames >= 2
    else:
        assert Image.open(out).size[0] > Image.open(out).size[1]  # a strip: frames along the row


def test_complete_predicts_the_later_frames_and_keeps_the_given_ones(grey_run, tmp_path, capsys):
    data = cr.data.load_splits("moving-mnist", levels=4, video=GEOMETRY)["test"]
    first = data.x[:2, :2].numpy().astype(np.uint8)
    np.save(tmp_path / "first.npy", first[:, :, 0])  # (N, T', H, W): the first two frames
    out = tmp_path / "p.npy"
    assert main(["complete", str(grey_run), str(tmp_path / "first.npy"), "-o", str(out), "--seed", "2"]) == 0
    predicted = np.load(out)
    assert predicted.shape == (2, 3, 1, 28, 28) and np.array_equal(predicted[:, :2], first)
    assert "frames 1-2 given" in capsys.readouterr().out
    assert main(["complete", str(grey_run), "-n", "2", "--given", "1", "-o", str(tmp_path / "p.gif")]) == 0
    assert "truth (left of) each prediction" in capsys.readouterr().out
    assert main(["complete", str(grey_run), "--hide", "center"]) == 2
    assert "--given G" in capsys.readouterr().err


def test_score_and_lossless_compression_of_videos(grey_run, tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 4, (2, 3, 28, 28, 1)).astype(np.uint8)  # channels last
    np.save(tmp_path / "v.npy", x)
    assert main(["score", str(grey_run), str(tmp_path / "v.npy"), "--map", str(tmp_path / "bits.png")]) == 0
    with Image.open(tmp_path / "bits.png") as picture:  # per video: 3 frames along a row, their bit maps under them
        assert picture.size == (4 * 3 * (28 + 2), 4 * 2 * (2 * 28 + 4))  # enlarged 4x
    assert main(["compress", str(grey_run), str(tmp_path / "v.npy"), "-o", str(tmp_path / "v.crac")]) == 0
    assert main(["decompress", str(grey_run), str(tmp_path / "v.crac"), "-o", str(tmp_path / "back.npy")]) == 0
    back = np.load(tmp_path / "back.npy")
    assert back.dtype == x.dtype and np.array_equal(back, x)


def test_bad_video_files_get_one_line(grey_run, tmp_path, capsys):
    np.save(tmp_path / "small.npy", np.zeros((2, 3, 20, 20), dtype=np.uint8))
    np.save(tmp_path / "long.npy", np.zeros((2, 5, 28, 28), dtype=np.uint8))
    np.save(tmp_path / "hot.npy", np.full((1, 3, 28, 28), 9, dtype=np.uint8))
    (tmp_path / "x.txt").write_text("not a video")
    frames = [Image.fromarray(np.zeros((16, 16), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "small.gif", save_all=True, append_images=frames[1:])
    cases = {
        "small.npy": "shape",
        "long.npy": "5 frames",
        "hot.npy": "values",
        "x.txt": "video model reads",
        "small.gif": "16x16",
    }
    for name, message in cases.items():
        assert main(["score", str(grey_run), str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (name, err)
    assert main(["compress", str(grey_run), str(tmp_path / "small.gif"), "-o", str(tmp_path / "g.crac")]) == 2
    assert main(["train", "--model", "gated-pixelcnn", "--data", "moving-mnist", "--steps", "1"]) == 2
    assert "choose a video model" in capsys.readouterr().err


def test_a_gif_of_the_right_size_is_read_as_a_video(grey_run, tmp_path):
    rng = np.random.default_rng(5)
    frames = [Image.fromarray((rng.integers(0, 4, (28, 28)) * 85).astype(np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "v.gif", save_all=True, append_images=frames[1:])
    from chainrule.data.video import read_videos

    videos, extra = read_videos(tmp_path / "v.gif", (3, 1, 28, 28), 4)
    assert videos.shape == (1, 3, 1, 28, 28) and extra["kind"] == "video-files"
    assert np.array_equal(videos[0, 1, 0], np.asarray(frames[1]) // 64)


def test_the_vpn_family_is_registered_for_video():
    assert MODELS.get("vpn").kind == "video" and "cpu" in cr.models.presets("vpn")


def test_the_latent_path_learns_frames_and_its_prior_samples_videos(grey_run, tmp_path, capsys):
    vq = tmp_path / "vq"
    geometry = ["--data", "moving-mnist", "--frames", "3", "--size", "28", "--digits", "1"]
    tiny_vq = ["--set", "hidden=8", "--set", "residual_hidden=4", "--set", "residual_layers=1", "--set", "codes=16"]
    tiny_vq += ["--set", "code_dim=4", "--set", "downsample=4"]
    assert main(["train", "--model", "vqvae", *geometry, *tiny_vq, "--steps", "2", "--out", str(vq), "--quiet"]) == 0
    frames = load_run_data(cr.data.run_record.run_info(vq)["data"])
    assert frames["train"].shape == (1, 28, 28) and frames["train"].kind.is_image
    assert len(frames["test"]) == 1000 * 3  # every frame of the first 1,000 test videos
    prior = tmp_path / "prior"
    tiny_prior = ["--set", "channels=6", "--set", "layers=2", "--set", "hidden=12", "--set", "embed=4"]
    argv = ["train", "--model", "gated-pixelcnn", "--data", f"codes:{vq}", *tiny_prior, "--steps", "2"]
    assert main([*argv, "--out", str(prior), "--quiet", "--train-set", "eval_examples=8"]) == 0
    assert cr.load(prior).shape == (1, 3 * 7, 7)  # three frames of 7x7 codes, stacked
    out = tmp_path / "v.npy"
    assert main(["sample", str(prior), "-n", "2", "-o", str(out), "--seed", "0"]) == 0
    assert np.load(out).shape == (2, 3, 1, 28, 28) and "2 videos" in capsys.readouterr().out
    # the latent route in the video benchmark: the given frames encoded, the rest completed and decoded
    assert main(["bench", "video", str(grey_run), "--given", "1", "--repeats", "1", "--prior", str(prior)]) == 0
    assert "latent: prior over (1, 21, 7) codes" in capsys.readouterr().out


def test_bench_video_times_cached_against_naive_prediction(grey_run, capsys):
    assert main(["bench", "video", str(grey_run), "--given", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "vpn, cached" in out and "naive" in out and "x slower" in out


def test_tensorboard_shows_sampled_videos_as_strips(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(tmp_path, "board", "--levels", "2", "--tensorboard", steps=2)
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert "samples" in events.Tags()["images"]
    strip = events.Images("samples")[-1]
    assert strip.width > strip.height  # frames along the row


def test_mp4_out_and_video_files_in_through_pyav(grey_run, tmp_path):
    av = pytest.importorskip("av", reason="PyAV (chainrule[video]) is not installed")
    out = tmp_path / "s.mp4"
    assert main(["sample", str(grey_run), "-n", "1", "-o", str(out), "--seed", "1"]) == 0
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    frames = (np.random.default_rng(6).integers(0, 4, (3, 28, 28)) * 85).astype(np.uint8)
    with av.open(str(tmp_path / "v.mkv"), "w", format="matroska") as container:  # a lossless file of our own
        stream = container.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = 28, 28, "gray"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    from chainrule.data.video import read_videos

    videos, _ = read_videos(tmp_path / "v.mkv", (3, 1, 28, 28), 4)
    assert np.array_equal(videos[0, :, 0], frames // 64)
    assert main(["score", str(grey_run), str(tmp_path / "v.mkv")]) == 0


def test_ffv1_is_lossless_on_grey_and_colour_videos():
    pytest.importorskip("av", reason="PyAV (chainrule[video]) is not installed")
    from chainrule import lossless

    rng = np.random.default_rng(7)
    for shape in ((4, 1, 16, 16), (3, 3, 8, 8)):
        assert lossless.ffv1(rng.integers(0, 256, shape).astype(np.uint8)) > 0  # decoded and compared inside
