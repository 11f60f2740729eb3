"""The web app end to end in a real browser: Playwright driving the machine's own headless chromium against a
server this test starts on a free port. Skips with the reason where Playwright or a chromium is missing."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

from chainrule.app.served import MAX_UPLOAD, serve  # noqa: E402
from chainrule.app.server import create_app  # noqa: E402

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip
IMAGE, TEXT = "zoo:made-fashion-mnist-binary", "zoo:transformer-shakespeare"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """The app over a binary image model and a text model, on a free port in a thread of this process."""
    served = [serve(IMAGE), serve(TEXT)]
    port = free_port()
    config = uvicorn.Config(create_app(served), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not running.started:
        assert time.time() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", {s.name: s for s in served}
    running.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server):
    executable = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if executable is None:
        pytest.skip("no chromium found (setup.sh installs chromium-headless-shell when run as root)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1100, "height": 1400})
        tab.goto(server[0])
        tab.wait_for_selector("body[data-ready=yes]", timeout=20_000)
        yield tab
        browser.close()


def choose(page, name: str) -> None:
    page.select_option("#model", name)
    page.wait_for_function(f"document.body.dataset.model === {name!r}")


def test_the_page_samples_a_grid(page):
    choose(page, IMAGE)
    assert page.is_visible("#sample") and not page.is_visible("#continue")
    page.fill("#sample-form input[name=n]", "16")
    page.fill("#sample-form input[name=seed]", "1")
    page.click("#sample-form button[type=submit]")
    page.wait_for_function("document.body.dataset.sampled === 'yes'", timeout=30_000)
    assert page.get_attribute("#sample-image", "src").startswith("data:image/png;base64,")
    assert "drawn in" in page.inner_text("#sample-note")
    width = page.evaluate("document.getElementById('sample-image').naturalWidth")
    assert width >= 4 * 28  # a 4x4 grid
    choose(page, TEXT)  # another model's page does not show this one's samples
    choose(page, IMAGE)
    assert not page.is_visible("#sample-image") and page.inner_text("#sample-note") == ""


def test_painting_a_rectangle_and_completing_keeps_every_known_pixel(page, server):
    choose(page, IMAGE)
    page.wait_for_selector(".examples img.picked")
    page.click(".examples img[data-index='3']")
    page.check("input[name=tool][value=rect]")
    page.locator("#canvas").scroll_into_view_if_needed()
    box = page.locator("#canvas").bounding_box()
    cell = box["width"] / 28
    start = (box["x"] + 8.5 * cell, box["y"] + 6.5 * cell)  # pixel (6, 8) to pixel (19, 21)
    end = (box["x"] + 21.5 * cell, box["y"] + 19.5 * cell)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=5)
    page.mouse.up()
    hidden = np.array(page.evaluate("Array.from(mask)")).reshape(28, 28)
    expected = np.zeros((28, 28), dtype=int)
    expected[6:20, 8:22] = 1
    assert np.array_equal(hidden, expected), (np.argwhere(hidden).min(0), np.argwhere(hidden).max(0), hidden.sum())
    page.fill("#completions", "3")
    page.click("#complete-button")
    page.wait_for_selector("#complete-out figure >> nth=4", timeout=30_000)  # original, hidden, 3 completions
    values = torch.tensor(page.evaluate("window.lastCompletion.values"))
    original = server[1][IMAGE].examples[3]
    known = torch.from_numpy(expected == 0)
    assert values.shape == (3, 1, 28, 28)
    assert torch.equal(values[:, 0][:, known], original[0][known].expand(3, -1))
    assert "completions in" in page.inner_text("#complete-note")
    assert page.inner_text("#complete-button + .working") == ""  # the seconds counter ran beside it, now stopped


def test_the_brush_paints_and_clear_resets(page):
    choose(page, IMAGE)
    page.check("input[name=tool][value=brush]")
    page.locator("#canvas").scroll_into_view_if_needed()
    box = page.locator("#canvas").bounding_box()
    cell = box["width"] / 28
    page.mouse.move(box["x"] + 3.5 * cell, box["y"] + 3.5 * cell)
    page.mouse.down()
    page.mouse.move(box["x"] + 10.5 * cell, box["y"] + 3.5 * cell, steps=8)
    page.mouse.up()
    hidden = np.array(page.evaluate("Array.from(mask)")).reshape(28, 28)
    assert hidden[3, 3:11].all() and hidden.sum() < 60
    page.click("#clear")
    assert page.evaluate("Array.from(mask).reduce((a, b) => a + b, 0)") == 0


def test_pasted_text_shows_its_bits_and_a_prompt_streams(page):
    choose(page, TEXT)
    assert page.is_visible("#continue") and not page.is_visible("#sample")
    page.fill("#text-bits-form textarea", "To be, or not to be")
    page.click("#text-bits-form button")
    page.wait_for_selector("#text-bits-out span")
    spans = page.locator("#text-bits-out span")
    assert spans.count() == len("To be, or not to be")
    assert all(
        float(b) >= 0 for b in page.eval_on_selector_all("#text-bits-out span", "s => s.map(e => e.dataset.bits)")
    )
    page.fill("#continue-form textarea", "ROMEO:")
    page.fill("#continue-form input[name=length]", "60")
    page.click("#continue-form button")
    page.wait_for_function("document.body.dataset.continued === 'yes'", timeout=30_000)
    text = page.inner_text("#continue-out")
    assert text.startswith("ROMEO:") and len(text) > len("ROMEO:") + 40


def upload(page, form: str, name: str, data: bytes, mime: str) -> None:
    page.set_input_files(f"{form} input[type=file]", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.click(f"{form} button")


def test_bad_uploads_show_the_one_line_error(page):
    choose(page, IMAGE)
    upload(page, "#score-form", "notes.txt", b"not an image", "text/plain")
    page.wait_for_selector("#error:not([hidden])")
    first = page.inner_text("#error")
    assert ".png" in first and "\n" not in first.strip()
    upload(page, "#score-form", "huge.png", b"\0" * (MAX_UPLOAD + 200_000), "image/png")
    # the box is emptied when the request starts: wait for the next message, not for the empty box
    page.wait_for_function(f"(t => t !== '' && t !== {first!r})(document.getElementById('error').textContent)")
    assert "at most" in page.inner_text("#error")
    buffer = io.BytesIO()
    Image.fromarray(np.eye(28, dtype=np.uint8)).save(buffer, format="PNG")
    upload(page, "#score-form", "diagonal.png", buffer.getvalue(), "image/png")
    page.wait_for_selector("#score-out img")
    assert page.is_hidden("#error") and "bits per dimension" in page.inner_text("#score-out")
