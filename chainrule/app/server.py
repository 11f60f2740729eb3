"""The web app's HTTP face (FastAPI): one page (`static/`), served from this package only (no external asset),
and a small JSON API over `served`, `pictures`, `sequences` and `uploads`. Run it with `chainrule serve`.

- One piece of work at a time per model: a request that arrives while another runs gets 429 and a one-line
  message (the page says so) instead of queueing behind it.
- Errors the CLI reports in one line (bad input, a model that cannot do it) come back as 400 with that line;
  anything else as 500 with one line, never a traceback.
- Uploads are read into memory up to `MAX_UPLOAD` bytes (a larger request is refused before it is read)
  and decoded by `uploads.read_upload`; no path named by the browser is opened.
- Long work streams: sampling sends JSON lines (progress with a partial grid, then the result), text continuation
  sends the characters as they are drawn.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from chainrule.app import pictures, sequences, uploads
from chainrule.app.served import MAX_IMAGES, MAX_TOKENS, MAX_UPLOAD, Served, check_count
from chainrule.errors import ChainruleError, InputError

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


class Busy(Exception):
    """Another request is working on this model."""


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def png_url(data: bytes) -> str:
    return data_url(data, "image/png")


def png_urls(out: dict[str, Any]) -> dict[str, Any]:
    """A result with its pictures (PNG bytes, alone or in lists) as data URLs the page can show."""

    def url(value):
        if isinstance(value, bytes):
            return png_url(value)
        return [url(v) for v in value] if isinstance(value, list) and value and isinstance(value[0], bytes) else value

    return {key: url(value) for key, value in out.items()}


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def create_app(served: list[Served]) -> FastAPI:
    """The app over `served` models (at least one)."""
    models = {s.name: s for s in served}
    app = FastAPI(title="chainrule", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(ChainruleError)
    async def refused(_request: Request, err: ChainruleError) -> JSONResponse:
        return JSONResponse({"error": one_line(err)}, status_code=400)

    @app.exception_handler(Busy)
    async def busy(_request: Request, err: Busy) -> JSONResponse:
        return JSONResponse({"error": one_line(err)}, status_code=429)

    @app.exception_handler(Exception)
    async def failed(_request: Request, err: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse({"error": f"internal error: {one_line(err)}"}, status_code=500)

    @app.middleware("http")
    async def limit_size(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_UPLOAD + 64 * 1024:
            return JSONResponse(
                {"error": f"the upload is {int(length):,} bytes; the app takes at most {MAX_UPLOAD:,}"},
                status_code=413,
            )
        return await call_next(request)

    def model(name: str, task: str | None = None) -> Served:
        """The served model `name`, which must offer `task` (when given)."""
        if name not in models:
            raise InputError(f"no model {name!r} is served here; these are: {', '.join(models)}")
        if task is not None and task not in models[name].tasks:
            offers = ", ".join(models[name].tasks)
            raise InputError(f"{name} is a {models[name].kind} model: it offers {offers}, not {task}")
        return models[name]

    def hold(s: Served) -> None:
        if not s.lock.acquire(blocking=False):
            raise Busy(busy_message(s))

    def check_free(s: Served) -> None:
        if s.lock.locked():
            raise Busy(busy_message(s))

    def run(s: Served, work, *args, **kwargs):
        hold(s)
        try:
            return work(*args, **kwargs)
        finally:
            s.lock.release()

    async def upload_bytes(file: UploadFile | None) -> tuple[bytes | None, str | None]:
        if file is None:
            return None, None
        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise InputError(f"the file is larger than {MAX_UPLOAD:,} bytes, the most the app takes")
        return data, file.filename

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        return {"models": [s.describe() for s in served], "limits": {"upload": MAX_UPLOAD}}

    @app.get("/api/examples")
    def examples(name: str) -> dict[str, Any]:
        return {"images": [png_url(b) for b in pictures.examples_png(model(name))]}

    @app.post("/api/sample")
    def sample(
        name: str = Form(...),
        n: int = Form(16),
        temperature: float = Form(1.0),
        seed: int | None = Form(None),
        class_id: int | None = Form(None),
    ) -> StreamingResponse:
        s = model(name, "sample")
        check_count(n, MAX_IMAGES, "the number of samples")
        check_free(s)
        busy_line = (json.dumps({"error": busy_message(s)}) + "\n").encode()
        lines = locked(s, lambda: sample_lines(s, n, temperature, seed, class_id), busy_line)
        return StreamingResponse(lines, media_type="application/x-ndjson")

    @app.post("/api/complete")
    async def complete(
        name: str = Form(...),
        mask: str = Form(...),
        index: int | None = Form(None),
        n: int = Form(4),
        temperature: float = Form(1.0),
        seed: int | None = Form(None),
        file: UploadFile | None = File(None),
    ) -> dict[str, Any]:
        s = model(name, "complete")
        data, filename = await upload_bytes(file)
        try:
            hidden = json.loads(mask)
        except ValueError:
            raise InputError("the mask must be a list of 0s and 1s") from None
        image = uploads.one_image(s, index, data, filename)
        return png_urls(run(s, pictures.complete_image, s, image, hidden, n, temperature, seed))

    @app.post("/api/bits")
    async def bits(
        name: str = Form(...), index: int | None = Form(None), file: UploadFile | None = File(None)
    ) -> dict[str, Any]:
        s = model(name, "bits")
        data, filename = await upload_bytes(file)
        return png_urls(run(s, pictures.bits_map, s, uploads.one_image(s, index, data, filename)))

    @app.post("/api/convert")
    async def convert(
        name: str = Form(...),
        index: int | None = Form(None),
        n: int = Form(4),
        temperature: float = Form(1.0),
        seed: int | None = Form(None),
        file: UploadFile | None = File(None),
    ) -> dict[str, Any]:
        s = model(name, "convert")
        data, filename = await upload_bytes(file)
        image = uploads.one_image(s, index, data, filename)
        return png_urls(run(s, pictures.convert_image, s, image, n, temperature, seed))

    @app.post("/api/continue")
    def continue_text(
        name: str = Form(...),
        prompt: str = Form(""),
        length: int = Form(300),
        temperature: float = Form(1.0),
        seed: int | None = Form(None),
    ) -> StreamingResponse:
        s = model(name, "continue")
        check_count(length, MAX_TOKENS, "the length")
        s.model.vocabulary.encode(prompt, "the prompt")  # refused now, before the stream starts
        check_free(s)
        busy_line = f"\u0000error: {busy_message(s)}".encode()
        chunks = locked(s, lambda: text_chunks(sequences.stream_text(s, prompt, length, temperature, seed)), busy_line)
        return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")

    @app.post("/api/text-bits")
    def text_bits(name: str = Form(...), text: str = Form("")) -> dict[str, Any]:
        s = model(name, "text-bits")
        return run(s, sequences.text_bits, s, text)

    @app.post("/api/audio")
    def audio(
        name: str = Form(...), seconds: float = Form(1.0), temperature: float = Form(1.0), seed: int | None = Form(None)
    ) -> dict[str, Any]:
        s = model(name, "audio")
        wav = run(s, sequences.generate_audio, s, seconds, temperature, seed)
        return {"wav": data_url(wav, "audio/wav"), "seconds": seconds}

    @app.post("/api/score")
    async def score(name: str = Form(...), file: UploadFile | None = File(None)) -> dict[str, Any]:
        s = model(name, "score")
        data, filename = await upload_bytes(file)
        if data is None:
            raise InputError("choose a file to score")
        return png_urls(run(s, uploads.score_upload, s, data, filename))

    @app.post("/api/compress")
    async def compress(name: str = Form(...), file: UploadFile | None = File(None)) -> dict[str, Any]:
        s = model(name, "compress")
        data, filename = await upload_bytes(file)
        if data is None:
            raise InputError("choose a file to compress")
        return run(s, uploads.compress_upload, s, data, filename)

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    return app


def busy_message(s: Served) -> str:
    return f"{s.name} is busy with another request: try again when it is done"


def locked(s: Served, chunks, busy: bytes) -> Iterator[bytes]:
    """Stream `chunks()` holding the model's lock, taken when the stream starts (so a stream that never starts
    holds nothing) and released when it ends or the client goes away; `busy` alone if another request holds it."""
    if not s.lock.acquire(blocking=False):
        yield busy
        return
    try:
        yield from chunks()
    finally:
        s.lock.release()


def sample_lines(s: Served, n: int, temperature: float, seed: int | None, class_id: int | None) -> Iterator[bytes]:
    """JSON lines: {"progress", "partial"} while drawing, then {"image", "seconds"}, or {"error"}."""
    try:
        for item in pictures.stream_samples(s, n, temperature, seed, class_id):
            item = png_urls(item)
            yield (json.dumps(item) + "\n").encode()
    except ChainruleError as err:
        yield (json.dumps({"error": one_line(err)}) + "\n").encode()
    except Exception as err:  # one line to the page; the log keeps the traceback
        log.exception("sampling failed")
        yield (json.dumps({"error": f"internal error: {one_line(err)}"}) + "\n").encode()


def text_chunks(chars: Iterator[str]) -> Iterator[bytes]:
    """The characters as UTF-8; an error mid-stream ends it with a marked line the page shows."""
    try:
        for text in chars:
            yield text.encode("utf-8")
    except ChainruleError as err:
        yield f"\n\u0000error: {one_line(err)}".encode()
    except Exception as err:
        log.exception("text generation failed")
        yield f"\n\u0000error: internal error: {one_line(err)}".encode()
