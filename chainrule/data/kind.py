"""The kind of data a dataset or a model holds, with the facts that kind needs: one typed home for what the
commands, the coder, training and TensorBoard dispatch on (before, each found it by duck typing in its own way).

- image: (C, H, W) intensities at `levels` levels;
- text: (T,) token ids over a vocabulary (`vocab`: "" = UTF-8 bytes at 256 levels, else the characters in id
  order);
- audio: (T,) sample codes of an `encoding` ("mulaw", "pcm8", "pcm16") at `rate` Hz;
- codes: (1, h, w) grids of the discrete codes of a VQ-VAE (`models.vqvae`) with `levels` = its codebook size:
  nominal symbols, not intensities (a prior embeds them and predicts them with a K-way softmax);
- video: (T, C, H, W) frames of intensities at `levels` levels (`data.moving_mnist`; causal in time, then raster
  order inside a frame, then R → G → B);
- values: anything else (plain integer vectors, token ids without a vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainrule.data.vocabulary import Vocabulary
from chainrule.errors import ConfigError

KINDS = ("image", "text", "audio", "codes", "video", "values")
ENCODINGS = ("mulaw", "pcm8", "pcm16")


@dataclass(frozen=True)
class DataKind:
    """What the values mean. Build with `image`, `text`, `audio` or `values`."""

    name: str
    levels: int
    vocab: str | None = None  # text only
    encoding: str | None = None  # audio only
    rate: int | None = None  # audio only

    def __post_init__(self) -> None:
        if self.name not in KINDS:
            raise ConfigError(f"data kind {self.name!r}; choose one of {', '.join(KINDS)}")
        if (self.name == "text") != (self.vocab is not None):
            raise ConfigError("a vocabulary goes with text data, and text data needs one")
        if (self.name == "audio") != (self.encoding is not None and self.rate is not None):
            raise ConfigError("an encoding and a rate go with audio data, and audio data needs both")
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding={self.encoding!r}; choose one of {', '.join(ENCODINGS)}")

    @classmethod
    def image(cls, levels: int) -> DataKind:
        return cls("image", levels)

    @classmethod
    def text(cls, levels: int, vocab: str) -> DataKind:
        return cls("text", levels, vocab=vocab)

    @classmethod
    def audio(cls, levels: int, encoding: str, rate: int) -> DataKind:
        return cls("audio", levels, encoding=encoding, rate=rate)

    @classmethod
    def codes(cls, levels: int) -> DataKind:
        return cls("codes", levels)

    @classmethod
    def video(cls, levels: int) -> DataKind:
        return cls("video", levels)

    @classmethod
    def values(cls, levels: int) -> DataKind:
        return cls("values", levels)

    @property
    def is_image(self) -> bool:
        return self.name == "image"

    @property
    def is_text(self) -> bool:
        return self.name == "text"

    @property
    def is_audio(self) -> bool:
        return self.name == "audio"

    @property
    def is_codes(self) -> bool:
        return self.name == "codes"

    @property
    def is_video(self) -> bool:
        return self.name == "video"

    @property
    def vocabulary(self) -> Vocabulary:
        """The text vocabulary.

        Raises:
            ConfigError: for a kind other than text."""
        if self.vocab is None:
            raise ConfigError(f"{self.name} data has no vocabulary")
        return Vocabulary() if self.vocab == "" else Vocabulary(self.vocab)

    @property
    def unit(self) -> str:
        """What one dimension is called in reports: bits per ..."""
        units = {"image": "dim", "text": "char", "audio": "sample", "codes": "code", "video": "dim", "values": "dim"}
        return units[self.name]

    def describe(self) -> dict[str, Any]:
        """The JSON form (run.json)."""
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DataKind:
        """From `describe`'s form.

        Raises:
            ConfigError: an unknown kind, missing or unknown fields."""
        fields = {"name", "levels", "vocab", "encoding", "rate"}
        if not isinstance(doc, dict) or not set(doc) <= fields or "name" not in doc or "levels" not in doc:
            raise ConfigError(f"a data kind needs a name and levels (and only {', '.join(sorted(fields))})")
        return cls(**doc)
