"""The app's text and audio pages: a prompt continued as a stream of characters, the bits of each character of a
text, seconds of generated audio as a WAV file."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from chainrule.app.served import MAX_SECONDS, MAX_TEXT, MAX_TOKENS, Served, check_count, seeded
from chainrule.app.streams import Stopped, streamed
from chainrule.data.audio import write_wav
from chainrule.data.mulaw import decode as mulaw_decode
from chainrule.data.vocabulary import TextStream
from chainrule.errors import InputError
from chainrule.media.bitmaps import characters
from chainrule.sampling import generate
from chainrule.scoring.scores import dimension_bits


def stream_text(
    served: Served, prompt: str, length: int, temperature: float = 1.0, seed: int | None = None
) -> Iterator[str]:
    """Continue `prompt` by `length` tokens, yielding the text as it is drawn (whole UTF-8 characters)."""
    model = served.model
    check_count(length, MAX_TOKENS, "the length")
    vocabulary = model.vocabulary
    tokens = vocabulary.encode(prompt, "the prompt")

    def work(emit, stop: threading.Event) -> None:
        text = TextStream(vocabulary)

        def on_token(token: int) -> None:
            if stop.is_set():
                raise Stopped
            if characters := text.push(token):
                emit(characters)

        with torch.inference_mode():
            generate(model, tokens, length, temperature=temperature, generator=seeded(seed), on_token=on_token)

    return streamed(work)


def text_bits(served: Served, text: str) -> dict[str, Any]:
    """The bits of each character of `text` under the model."""
    if not text:
        raise InputError("paste some text first")
    if len(text) > MAX_TEXT:
        raise InputError(f"the text has {len(text):,} characters; the app scores at most {MAX_TEXT:,}")
    vocabulary = served.model.vocabulary
    tokens = vocabulary.encode(text, "the text")
    with torch.inference_mode():
        bits = dimension_bits(served.model, [tokens])[0]
    pairs = characters(tokens, bits, vocabulary)
    return {"characters": [[c, b] for c, b in pairs], "bits_per_char": float(bits.sum()) / max(1, len(pairs))}


def generate_audio(served: Served, seconds: float, temperature: float = 1.0, seed: int | None = None) -> bytes:
    """`seconds` of audio drawn by the model, as a WAV file's bytes."""
    if not 0 < seconds <= MAX_SECONDS:
        raise InputError(f"seconds must be in (0, {MAX_SECONDS:g}]")
    model = served.model
    rate, encoding = model.data_kind.rate, model.data_kind.encoding
    with torch.inference_mode():
        new = generate(model, torch.zeros(0, dtype=torch.long), int(seconds * rate), temperature, None, seeded(seed))
    with tempfile.TemporaryDirectory(prefix="chainrule-audio-") as folder:
        path = Path(folder) / "generated.wav"
        write_wav(path, mulaw_decode(new, encoding), rate)
        return path.read_bytes()
