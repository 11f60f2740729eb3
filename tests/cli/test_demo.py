"""`chainrule demo` end to end at its small size, and its report opened in a real headless browser (Debian's
chromium), which must decode every picture and read every audio file."""

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from chainrule.cli.main import main
from chainrule.data.audio import write_wav
from chainrule.media import save_png
from chainrule.media.report import Report

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")


def browser_view(page) -> dict[str, int]:
    """Open `page` in headless chromium and return the counts its load script wrote into <body data-...>."""
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no chromium found (setup.sh installs chromium-headless-shell when run as root)")
    argv = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=5000",
        "--window-size=1024,768",
    ]
    dom = subprocess.run(
        [*argv, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    return {k: int(v) for k, v in re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1))}


def test_the_browser_check_sees_a_missing_picture(tmp_path):
    save_png(np.zeros((8, 8), dtype=np.uint8), tmp_path / "ok.png")
    write_wav(tmp_path / "ok.wav", torch.zeros(800), 8000)
    report = Report("check")
    report.image("ok.png", "present")
    report.image("gone.png", "missing")
    report.audio("ok.wav", "a clip")
    view = browser_view(report.write(tmp_path / "report.html"))
    assert view == {"images": 2, "images-decoded": 1, "audio": 1, "audio-ready": 1, "overflow": 0}


def test_wide_pictures_and_commands_fit_the_page_width(tmp_path):
    save_png(np.zeros((8, 1600), dtype=np.uint8), tmp_path / "wide.png")  # wider than the window
    report = Report("widths")
    report.image("wide.png", "a wide grid")
    report.code("chainrule train --model vqvae --out runs/vq\nchainrule sample runs/prior -n 16 -o samples.png")
    page = report.write(tmp_path / "report.html")
    assert "runs/vq\nchainrule sample" in page.read_text()  # two commands, two lines
    assert browser_view(page)["overflow"] == 0


def test_the_demo_writes_a_report_that_a_browser_loads_whole(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--small", "--minutes", "0.05", "--out", str(out), "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "[9/9]" in printed and f"report: {out / 'report.html'}" in printed
    page = (out / "report.html").read_text()
    parts = (
        "1. MADE trained here",
        "2. Gated PixelCNN",
        "3. Text",
        "4. Audio",
        "5. Lossless compression",
        "6. Judging",
        "7. Larger images",
        "8. Super-resolution",
        "9. Video",
    )
    for part in parts:
        assert part in page
    assert "chainrule serve" in page  # the report points to the live app
    assert (out / "made-samples.png").is_file() and (out / "wavenet.wav").is_file()
    assert (out / "anomaly.png").is_file() and "complexity score" in page
    with Image.open(out / "latent-samples.png") as grid:
        assert grid.width >= 2 * 64 and grid.height >= 64  # decoded 64x64 samples
    assert (out / "pixel-photos.png").is_file() and (out / "upscale.png").is_file()
    with Image.open(out / "video.gif") as animation:  # truth beside prediction, one picture per frame time
        assert animation.is_animated and animation.n_frames >= 2
    view = browser_view(out / "report.html")
    assert view["images"] >= 4 and view["images-decoded"] == view["images"]
    assert view["audio"] == 1 and view["audio-ready"] == 1
    assert view["overflow"] == 0  # no horizontal scroll bar
