"""Text ↔ token ids: raw UTF-8 bytes (256 symbols, any text) or the characters of a corpus."""

from __future__ import annotations

import torch
from torch import Tensor

from chainrule.errors import InputError

BYTES = ""  # the stored form of the byte vocabulary


class Vocabulary:
    """Token ids of text. `symbols` is "" for raw bytes (ids 0..255 = UTF-8 bytes), otherwise the characters in
    id order (at most 256). Stored with a model as that string (`symbols`)."""

    def __init__(self, symbols: str = BYTES) -> None:
        if len(set(symbols)) != len(symbols) or len(symbols) > 256:
            raise InputError("a character vocabulary needs at most 256 distinct characters")
        self.symbols = symbols
        self.index = {ch: i for i, ch in enumerate(symbols)}

    @classmethod
    def of_text(cls, text: str) -> Vocabulary:
        """The characters of `text`, sorted."""
        chars = "".join(sorted(set(text)))
        if len(chars) > 256:
            raise InputError(f"the text has {len(chars)} distinct characters; a character vocabulary holds 256")
        return cls(chars)

    @property
    def is_bytes(self) -> bool:
        return self.symbols == BYTES

    @property
    def kind(self) -> str:
        return "bytes" if self.is_bytes else "chars"

    def __len__(self) -> int:
        return 256 if self.is_bytes else len(self.symbols)

    def encode(self, text: str, what: str = "the text") -> Tensor:
        """long (T,) ids. Raises InputError naming the first character the vocabulary lacks."""
        if self.is_bytes:
            return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)
        try:
            return torch.tensor([self.index[ch] for ch in text], dtype=torch.long)
        except KeyError as err:
            ch = err.args[0]
            raise InputError(
                f"{what} has the character {ch!r} (U+{ord(ch):04X}), which is not in the model's "
                f"{len(self)}-character vocabulary"
            ) from None

    def decode(self, ids: Tensor | list[int]) -> str:
        """Text of token ids; for bytes, invalid UTF-8 sequences become U+FFFD."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if self.is_bytes:
            return bytes(ids).decode("utf-8", errors="replace")
        return "".join(self.symbols[i] for i in ids)


class TextStream:
    """Tokens drawn one at a time → the text they spell, whole characters only: a byte vocabulary's UTF-8 bytes are
    held until their character is complete (four bytes that never make one are shown as U+FFFD each)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.pending = bytearray()

    def push(self, token: int) -> str:
        """The text the token completes ("" while a character is still partial)."""
        if not self.vocabulary.is_bytes:
            return self.vocabulary.decode([token])
        self.pending.append(token)
        try:
            text = self.pending.decode("utf-8")
        except UnicodeDecodeError:
            if len(self.pending) < 4:
                return ""
            text = self.pending.decode("utf-8", errors="replace")
        self.pending.clear()
        return text


def read_text(path, what: str | None = None) -> str:
    """A UTF-8 file's text. Raises InputError for an empty file or one that is not UTF-8."""
    from pathlib import Path

    path = Path(path)
    what = what or str(path)
    data = path.read_bytes()
    if not data:
        raise InputError(f"{what} is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{what} is not UTF-8 text (byte {err.start}: {data[err.start]:#04x})") from None
