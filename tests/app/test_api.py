"""The web app's API (chainrule serve), driven through FastAPI's test client over the zoo's small models."""

from __future__ import annotations

import base64
import io
import json
import threading
import wave

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from chainrule.app import pictures, sequences  # noqa: E402
from chainrule.app.served import MAX_TOKENS, MAX_UPLOAD, serve  # noqa: E402
from chainrule.app.server import create_app  # noqa: E402
from chainrule.cli.main import main  # noqa: E402

IMAGE, TEXT, AUDIO = "zoo:made-fashion-mnist-binary", "zoo:transformer-shakespeare", "zoo:wavenet-speech"
UPSCALE = "zoo:gated-pixelcnn-fashion-mnist-lowres4"


@pytest.fixture(scope="module")
def served():
    return {name: serve(name) for name in (IMAGE, TEXT, AUDIO, UPSCALE)}


@pytest.fixture(scope="module")
def client(served):
    return TestClient(create_app(list(served.values())))


def png_of(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        return np.asarray(image.convert("RGB"))


def png_upload(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_the_page_and_its_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere
    for asset in ("/static/app.js", "/static/app.css"):
        response = client.get(asset)
        assert response.status_code == 200 and "https://" not in response.text
    models = client.get("/api/models").json()["models"]
    assert [m["name"] for m in models] == [IMAGE, TEXT, AUDIO, UPSCALE]
    assert [m["kind"] for m in models] == ["image", "text", "audio", "convert"]
    assert models[3]["task"] == "lowres:4" and models[3]["source_shape"] == [1, 7, 7]
    assert "complete" in models[0]["tasks"] and "continue" in models[1]["tasks"] and "audio" in models[2]["tasks"]


def test_sampling_streams_partial_grids_then_the_samples(client):
    response = client.post("/api/sample", data={"name": IMAGE, "n": 4, "seed": 3})
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert "image" in lines[-1] and lines[-1]["progress"] == 1.0
    grid = png_of(lines[-1]["image"])
    assert grid.shape[0] >= 28 and grid.shape[1] >= 2 * 28  # a 2x2 grid, enlarged
    again = client.post("/api/sample", data={"name": IMAGE, "n": 4, "seed": 3}).text.splitlines()
    assert json.loads(again[-1])["image"] == lines[-1]["image"]  # seeded: the same samples
    assert all(0 < line["progress"] <= 1 for line in lines)


def test_sampling_partials_come_at_row_ends(served):
    fractions = []
    pictures.sample_images(served[IMAGE], 2, seed=0, on_partial=lambda png, done: fractions.append(done), every=0.0)
    assert fractions and all(abs(f * 28 - round(f * 28)) < 1e-9 for f in fractions)  # whole rows of 28
    assert fractions == sorted(fractions) and fractions[-1] < 1


def test_completion_keeps_every_known_pixel(client, served):
    hidden = np.zeros((28, 28), dtype=int)
    hidden[7:21, 7:21] = 1  # the centre
    response = client.post(
        "/api/complete", data={"name": IMAGE, "index": 2, "mask": json.dumps(hidden.ravel().tolist()), "n": 3}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    values = torch.tensor(body["values"])  # (3, 1, 28, 28)
    original = served[IMAGE].examples[2]
    known = torch.from_numpy(hidden == 0)
    assert values.shape == (3, 1, 28, 28) and len(body["completions"]) == 3
    assert torch.equal(values[:, 0][:, known], original[0][known].expand(3, -1))
    assert body["particles"] > 1  # known pixels follow hidden ones: candidates weighed by them


def test_completion_of_an_uploaded_png(client):
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 10:18] = 1  # the model's two levels, as the CLI reads them
    hidden = np.zeros(28 * 28, dtype=int)
    hidden[: 28 * 14] = 1  # the top half
    files = {"file": ("trousers.png", png_upload(image), "image/png")}
    data = {"name": IMAGE, "mask": json.dumps(hidden.tolist()), "n": 2}
    body = client.post("/api/complete", data=data, files=files).json()
    values = np.array(body["values"])[:, 0]
    assert np.array_equal(values[:, 14:], np.broadcast_to(image[14:] > 0, (2, 14, 28)).astype(int))


def test_bad_inputs_get_one_line(client):
    def error(response, status=400):
        assert response.status_code == status, response.text
        message = response.json()["error"]
        assert "\n" not in message and "Traceback" not in message
        return message

    mask = json.dumps([0] * 784)
    assert "paint" in error(client.post("/api/complete", data={"name": IMAGE, "index": 0, "mask": mask}))
    assert "mask" in error(client.post("/api/complete", data={"name": IMAGE, "index": 0, "mask": "[1, 2]"}))
    files = {"file": ("notes.txt", b"hello", "text/plain")}
    assert ".png" in error(client.post("/api/score", data={"name": IMAGE}, files=files))
    files = {"file": ("fake.png", b"this is not a png", "image/png")}
    error(client.post("/api/score", data={"name": IMAGE}, files=files))
    big = np.ones((56, 56), dtype=np.uint8)  # an image of another size
    files = {"file": ("big.png", png_upload(big), "image/png")}
    assert "28" in error(client.post("/api/score", data={"name": IMAGE}, files=files))
    files = {"file": ("white.png", png_upload(np.full((28, 28), 255, dtype=np.uint8)), "image/png")}
    said = error(client.post("/api/score", data={"name": IMAGE}, files=files))
    assert said.startswith("white.png") and "0..1" in said and "/tmp" not in said  # the CLI's rule, the user's name
    files = {"file": ("huge.png", b"\0" * (MAX_UPLOAD + 100_000), "image/png")}
    assert "at most" in error(client.post("/api/score", data={"name": IMAGE}, files=files), 413)
    assert "no model" in error(client.post("/api/sample", data={"name": "../../etc/passwd"}))
    assert "1..64" in error(client.post("/api/sample", data={"name": IMAGE, "n": 1000}))
    assert "not continue" in error(client.post("/api/continue", data={"name": IMAGE, "prompt": "a"}))
    said = error(client.post("/api/complete", data={"name": TEXT, "index": 0, "mask": mask}))
    assert "text model" in said and "not complete" in said  # each page's requests only on models that offer them


def test_a_second_request_while_one_runs_is_refused_politely(client, served):
    s = served[IMAGE]
    s.lock.acquire()
    try:
        response = client.post("/api/sample", data={"name": IMAGE, "n": 2})
        assert response.status_code == 429 and "busy" in response.json()["error"]
        hidden = json.dumps([1] * 784)
        assert client.post("/api/complete", data={"name": IMAGE, "index": 0, "mask": hidden}).status_code == 429
    finally:
        s.lock.release()
    assert client.post("/api/sample", data={"name": IMAGE, "n": 2}).status_code == 200  # free again


def test_text_streams_and_scores_per_character(client):
    with client.stream("POST", "/api/continue", data={"name": TEXT, "prompt": "ROMEO:", "length": 40, "seed": 1}) as r:
        assert r.status_code == 200
        chunks = list(r.iter_text())
    assert len(chunks) > 1 and 30 <= len("".join(chunks)) <= 40  # characters as they come (bytes → characters)
    body = client.post("/api/text-bits", data={"name": TEXT, "text": "To be, or not to be"}).json()
    assert "".join(c for c, _ in body["characters"]) == "To be, or not to be"
    assert all(b >= 0 for _, b in body["characters"]) and 0 < body["bits_per_char"] < 8


def test_audio_is_generated_as_a_wav(client):
    body = client.post("/api/audio", data={"name": AUDIO, "seconds": 0.05, "seed": 0}).json()
    wav = base64.b64decode(body["wav"].split(",", 1)[1])
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == 8000 and w.getnframes() == 400
    refused = client.post("/api/audio", data={"name": AUDIO, "seconds": 60})
    assert refused.status_code == 400


def test_an_uploaded_wav_is_scored_and_compressed(client):
    body = client.post("/api/audio", data={"name": AUDIO, "seconds": 0.1, "seed": 1}).json()
    files = {"file": ("clip.wav", base64.b64decode(body["wav"].split(",", 1)[1]), "audio/wav")}
    scored = client.post("/api/score", data={"name": AUDIO}, files=files).json()
    assert 0 < scored["bits_per_dim"] < 8 and scored["reference"] is not None
    assert scored["bits"] == pytest.approx(800 * scored["bits_per_dim"], rel=1e-4)  # 0.1 s at 8 kHz
    packed = client.post("/api/compress", data={"name": AUDIO}, files=files).json()
    assert packed["equal"] and packed["values"] == 800 and packed["compressed"] < packed["original"]
    refused = client.post("/api/score", data={"name": IMAGE}, files=files)  # a WAV for an image model
    assert refused.status_code == 400 and ".wav" in refused.json()["error"]
    refused = client.post("/api/score", data={"name": AUDIO}, files={"file": ("clip.wav", b"RIFF????", "audio/wav")})
    assert refused.status_code == 400 and "\n" not in refused.json()["error"]


def test_score_and_compress_an_upload(client):
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 6:22] = 1
    files = {"file": ("square.png", png_upload(image), "image/png")}
    scored = client.post("/api/score", data={"name": IMAGE}, files=files).json()
    assert scored["bits_per_dim"] > 0 and scored["reference"] is not None and "map" in scored
    assert scored["excess"] == pytest.approx(scored["bits_per_dim"] - scored["reference"])
    packed = client.post("/api/compress", data={"name": IMAGE}, files=files).json()
    assert packed["equal"] and packed["compressed"] > 0 and packed["values"] == 784
    text = b"Now is the winter of our discontent\nMade glorious summer by this sun of York;\n"
    files = {"file": ("richard.txt", text, "text/plain")}
    packed = client.post("/api/compress", data={"name": TEXT}, files=files).json()
    assert packed["equal"] and packed["compressed"] < packed["original"] and "bzip2" in packed["classic_name"]
    scored = client.post("/api/score", data={"name": TEXT}, files=files).json()
    assert "".join(c for c, _ in scored["characters"]) == text.decode()


def test_serve_refuses_what_it_cannot_show_and_a_taken_port(tmp_path, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", IMAGE, "--port", str(port)]) != 0
    err = capsys.readouterr().err.strip()
    assert "choose another --port" in err and len(err.splitlines()) == 1
    assert main(["serve", "zoo:vpn-moving-mnist", "--port", str(port)]) != 0  # the port is free again
    err = capsys.readouterr().err.strip()
    assert "video" in err and len(err.splitlines()) == 1
    assert main(["serve", "zoo:pixelsnail-emoji64-top-codes", "--port", str(port)]) != 0
    assert "two-level" in capsys.readouterr().err


def test_the_lock_is_released_when_a_stream_ends_early(served):
    from chainrule.app.server import locked

    s = served[IMAGE]
    stream = locked(s, lambda: iter([b"a", b"b", b"c"]), b"busy")
    assert next(stream) == b"a" and s.lock.locked()
    stream.close()  # the client went away
    assert not s.lock.locked()
    other = threading.Lock()
    assert other.acquire(blocking=False)


def test_upscaling_a_test_image_or_an_upload(client):
    body = client.post("/api/convert", data={"name": UPSCALE, "index": 1, "n": 2, "seed": 0}).json()
    assert len(body["samples"]) == 2 and {"input", "bicubic", "original"} <= set(body)
    assert png_of(body["samples"][0]).shape[:2] == png_of(body["original"]).shape[:2]
    small = (np.arange(49).reshape(7, 7) * 5).astype(np.uint8)
    files = {"file": ("small.png", png_upload(small), "image/png")}
    body = client.post("/api/convert", data={"name": UPSCALE, "n": 1}, files=files).json()
    assert len(body["samples"]) == 1 and "original" not in body  # at the input's size: nothing to compare with
    files = {"file": ("odd.png", png_upload(np.zeros((10, 10), dtype=np.uint8)), "image/png")}
    response = client.post("/api/convert", data={"name": UPSCALE}, files=files)
    assert response.status_code == 400 and "1x7x7" in response.json()["error"]
    assert client.post("/api/convert", data={"name": IMAGE, "index": 0}).status_code == 400


def test_a_stream_closed_early_stops_its_work(served):
    before = threading.active_count()
    stream = sequences.stream_text(served[TEXT], "ROMEO:", MAX_TOKENS, seed=0)
    assert next(stream)
    stream.close()  # the reader went away after the first character
    assert threading.active_count() == before  # the worker was stopped and joined, not left drawing 2,000 tokens
    lines = pictures.stream_samples(served[IMAGE], 2, seed=0)
    assert "image" in list(lines)[-1]
