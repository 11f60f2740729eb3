"""The web app's response times (issue 36's targets) and the user guide's screenshot, through a real server and
browser: starts `chainrule serve`'s app on a free port with the default zoo models, then

- times over HTTP: the first streamed picture and the whole of 16 samples of the binary image model, a
  completion of 4 centre-hidden 28x28 images, the first streamed character of a text continuation (median of 5
  each, after one warm-up request);
- with --screenshot PATH: drives headless chromium (Playwright) to sample, paint a rectangle, complete it, and
  writes a screenshot of the page.

    .venv/bin/python scripts/app_figures.py [--screenshot docs/app.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import threading
import time

import httpx
import numpy as np
import torch
import uvicorn

from chainrule.app.served import serve
from chainrule.app.server import create_app
from chainrule.bench.machine import describe
from chainrule.cli.serve import DEFAULT_MODELS

IMAGE, TEXT = DEFAULT_MODELS[0], DEFAULT_MODELS[2]


def start(models) -> tuple[str, uvicorn.Server]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(models), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def first_and_total(client: httpx.Client, url: str, data: dict, text: bool = False) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    with client.stream("POST", url, data=data) as response:
        response.raise_for_status()
        for chunk in response.iter_text() if text else response.iter_lines():
            if first is None and chunk.strip():
                first = time.perf_counter() - start
    return first, time.perf_counter() - start


def timings(base: str, draws: int = 5) -> dict[str, float]:
    out: dict[str, list[float]] = {"sample_first": [], "sample_total": [], "complete": [], "text_first": []}
    hidden = np.zeros((28, 28), dtype=int)
    hidden[7:21, 7:21] = 1
    with httpx.Client(base_url=base, timeout=120) as client:
        for k in range(draws + 1):
            first, total = first_and_total(client, "/api/sample", {"name": IMAGE, "n": 16, "seed": k})
            start = time.perf_counter()
            data = {"name": IMAGE, "index": k, "mask": json.dumps(hidden.ravel().tolist()), "n": 4, "seed": k}
            client.post("/api/complete", data=data).raise_for_status()
            completed = time.perf_counter() - start
            text_first, _ = first_and_total(
                client, "/api/continue", {"name": TEXT, "prompt": "ROMEO:", "length": 50, "seed": k}, text=True
            )
            if k:  # the first round warms up
                for key, value in zip(out, (first, total, completed, text_first), strict=True):
                    out[key].append(value)
    return {key: statistics.median(values) for key, values in out.items()}


def screenshot(base: str, path: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = next(shutil.which(b) for b in ("chromium-headless-shell", "chromium") if shutil.which(b))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 900, "height": 900})
        page.goto(base)
        page.wait_for_selector("body[data-ready=yes]")
        page.select_option("#model", DEFAULT_MODELS[1])
        page.wait_for_selector(".examples img.picked")
        page.fill("#sample-form input[name=n]", "16")
        page.fill("#sample-form input[name=seed]", "3")
        page.click("#sample-form button[type=submit]")
        page.wait_for_function("document.body.dataset.sampled === 'yes'", timeout=120_000)
        page.click(".examples img[data-index='1']")
        page.check("input[name=tool][value=rect]")
        page.locator("#canvas").scroll_into_view_if_needed()
        box = page.locator("#canvas").bounding_box()
        cell = box["width"] / 28
        page.mouse.move(box["x"] + 6 * cell, box["y"] + 8 * cell)
        page.mouse.down()
        page.mouse.move(box["x"] + 22 * cell, box["y"] + 20 * cell, steps=5)
        page.mouse.up()
        page.click("#complete-button")
        page.wait_for_selector("#complete-out figure >> nth=5", timeout=120_000)
        page.screenshot(path=path, full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshot", help="write a screenshot of the page here")
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {describe()}")
    base, server = start([serve(name) for name in DEFAULT_MODELS])
    try:
        figures = timings(base, args.draws)
        print(
            f"| 16 binary 28x28 samples: first picture | {figures['sample_first']:.2f} s | all | "
            f"{figures['sample_total']:.2f} s |\n| completion of 4 centre-hidden 28x28 images | "
            f"{figures['complete']:.2f} s |\n| text: first character | {figures['text_first']:.3f} s |"
        )
        print(json.dumps(figures))
        if args.screenshot:
            screenshot(base, args.screenshot)
            print(f"wrote {args.screenshot}")
    finally:
        server.should_exit = True


if __name__ == "__main__":
    main()
