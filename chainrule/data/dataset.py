"""The in-memory dataset every source produces, with level conversion applied per batch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from chainrule.data.condition import Condition
from chainrule.data.kind import DataKind
from chainrule.data.transforms import dynamic_binarize, requantize, threshold

Binarize = Literal["threshold", "dynamic", "soft"]

FIXED_SAMPLE_SEED = 20150212  # the one stochastic binarization used for evaluation of dynamic runs


class FreshExamples:
    """A training split whose examples are made on the fly (an endless stream, `data.moving_mnist.Stream`): the
    trainer's batches are new examples drawn with its generator; `epoch` examples make a nominal epoch."""

    epoch: int

    def draw(self, generator: torch.Generator, count: int) -> Tensor:  # pragma: no cover - abstract
        """`count` new raw examples, uint8 (count, *shape), a pure function of the generator's state."""
        raise NotImplementedError

    def at(self, index: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The raw examples at `index` of the stream's own fixed sequence (no generator: reproducible)."""
        raise NotImplementedError

    def about(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Dataset:
    """One split of a dataset.

    Attributes:
        name: dataset name (or path) as given to `load`.
        split: "train", "val" or "test".
        raw: uint8 (N, *shape) values in [0, source_levels), as stored by the source.
        source_levels: number of levels of `raw` (256 for 8-bit images).
        levels: levels K the models see.
        kind: what the values are (`data.kind`: image, text with its vocabulary, audio with its encoding and rate,
            or plain values).
        labels: long (N,) class ids, or None.
        num_classes: number of classes (0 without labels).
        binarize: for levels = 2 from richer data: "threshold" (x > 127 for 8-bit), "dynamic" (resampled
            each time an example is drawn for training; evaluation uses one fixed sample) or "soft" (`batch` gives
            the grey values as Bernoulli probabilities, float in [0, 1], for a model that trains on them (`vpn`);
            `x` stays the thresholded values).
        tokens: for text, the whole split as one token stream, long (T,); the rows of `raw` are its consecutive
            chunks (row i + 1 continues row i). None for data of independent examples.
        source_files: audio: the number of files the split was read from (0 otherwise).
        maps: a spatial conditioning map per example, (N, M, h, w) (the bottom codes of a VQ-VAE-2 come with their
            top codes; an image task's low-resolution or grey image, `data.conditions`), or None; map_levels: their
            levels when they are codes (0: float values).
        task: the image-to-image task the maps come from ("lowres:4", "grey"), or None.
        random_crops: streams only: training batches are crops of the row length at random offsets of `tokens`
            (when `batch` gets a generator) instead of the fixed rows.
        fresh: examples made on the fly (`FreshExamples`): `batch` with a generator draws new ones, `len` is its
            nominal epoch, and `raw` holds a fixed sample of them.
        mirrored: a training split that holds every image and its left-right mirror (`data.augment`); for codes,
            the codes of both.
    """

    name: str
    split: str
    raw: Tensor
    source_levels: int
    levels: int
    kind: DataKind
    labels: Tensor | None = None
    num_classes: int = 0
    binarize: Binarize | None = None
    tokens: Tensor | None = None
    source_files: int = 0
    random_crops: bool = False
    maps: Tensor | None = None
    map_levels: int = 0
    task: str | None = None
    fresh: FreshExamples | None = None
    mirrored: bool = False

    @property
    def is_stream(self) -> bool:
        """True for text: rows are consecutive chunks of one stream."""
        return self.tokens is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.raw.shape[1:])

    def __len__(self) -> int:
        return self.fresh.epoch if self.fresh is not None else self.raw.shape[0]

    @property
    def description(self) -> str:
        kind = self.kind
        if kind.is_audio:
            return (
                f"{self.name} {self.split} ({len(self.tokens):,} samples = {len(self.tokens) / kind.rate:.0f} s from "
                f"{self.source_files} files, {kind.rate} Hz {kind.encoding}; crops of {self.shape[0]})"
            )
        if kind.is_text:
            symbols = "bytes" if kind.vocab == "" else f"{self.levels} characters"
            return f"{self.name} {self.split} ({len(self.tokens):,} tokens, {symbols}; chunks of {self.shape[0]})"
        how = f", {self.binarize} binarization" if self.binarize else ""
        if self.fresh is not None:
            return f"{self.name} {self.split} ({self.fresh.about()}, {self.levels} levels{how})"
        return f"{self.name} {self.split} ({len(self)} x {'x'.join(map(str, self.shape))}, {self.levels} levels{how})"

    def __post_init__(self) -> None:
        if self.kind.levels != self.levels:
            raise ValueError(f"the data kind has {self.kind.levels} levels, the dataset {self.levels}")
        if self.binarize is None and self.levels == self.source_levels and self.raw.dtype == torch.uint8:
            self.fixed = self.raw  # no copy of large data (videos) at its own levels
        elif self.binarize == "dynamic" or not len(self.raw):  # one draw over the whole split: the evaluation sample
            self.fixed = self.convert(self.raw).to(torch.uint8 if self.levels <= 256 else torch.int32)
        else:  # in chunks: the long intermediate of a whole video split would take 8x its bytes
            dtype = torch.uint8 if self.levels <= 256 else torch.int32
            self.fixed = torch.cat([self.convert(part).to(dtype) for part in self.raw.split(1024)])

    def convert(self, raw: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Raw values → model levels (long). Dynamic binarization draws from `generator`, or from one fixed seed
        when none is given (the evaluation sample, made once in `__post_init__`)."""
        if self.binarize in ("threshold", "soft"):
            return threshold(raw, self.source_levels)
        if self.binarize == "dynamic":
            generator = generator or torch.Generator().manual_seed(FIXED_SAMPLE_SEED)
            return dynamic_binarize(raw, self.source_levels, generator)
        return requantize(raw, self.source_levels, self.levels)

    def batch(self, index: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """Examples at `index` as (x long (b, *shape), labels long (b,) or None). With `generator`, dynamic
        binarization draws a fresh sample; otherwise the fixed evaluation sample is returned."""
        if generator is not None and self.random_crops and self.tokens is not None:
            length = self.shape[0]
            starts = torch.randint(0, len(self.tokens) - length + 1, (len(index),), generator=generator)
            return self.tokens[starts[:, None] + torch.arange(length)], None
        if self.fresh is not None:
            raw = self.fresh.draw(generator, len(index)) if generator is not None else self.fresh.at(index)
            return (self.probabilities(raw) if self.binarize == "soft" else self.convert(raw, generator)), None
        if self.binarize == "soft":
            return self.probabilities(self.raw[index]), (self.labels[index] if self.labels is not None else None)
        if generator is not None and self.binarize == "dynamic":
            x = self.convert(self.raw[index], generator)
        else:
            x = self.fixed[index].long()
        return x, (self.labels[index] if self.labels is not None else None)

    def probabilities(self, raw: Tensor) -> Tensor:
        """Raw values read as Bernoulli probabilities (`binarize="soft"`): float raw / (source_levels − 1)."""
        return raw.float() / (self.source_levels - 1)

    def condition(
        self, index: Tensor, labels: Tensor | None, classes: bool, spatial: bool, device: torch.device | str = "cpu"
    ) -> Tensor | Condition | None:
        """What a model is given with the examples at `index`: their labels if it takes classes, and their maps if
        it reads a map (then a `Condition`); None when it takes neither."""
        chosen = labels if classes and labels is not None else None
        if not spatial or self.maps is None:
            return None if chosen is None else chosen.to(device)
        m = self.maps[index]
        return Condition(classes=chosen, map=m.long() if self.map_levels else m.float()).to(device)

    def stream_rows(self, offset: int, rows: int) -> Dataset:
        """Streams: the same split with its rows re-cut, `rows` consecutive chunks of the row length starting at
        token `offset` (so that an epoch of truncated back-propagation cuts the text at other places)."""
        length = self.shape[0]
        if self.tokens is None or offset < 0 or rows < 1 or offset + rows * length > len(self.tokens):
            raise ValueError(f"cannot cut {rows} rows of {length} tokens at offset {offset} from this split")
        raw = self.tokens[offset : offset + rows * length].reshape(rows, length).to(self.raw.dtype)
        return dataclasses.replace(self, raw=raw)

    def spread(self, n: int) -> Dataset:
        """The same split cut to `n` examples: evenly spaced ones (sources sorted by label stay balanced), or for a
        stream its first `n` rows and their tokens."""
        if n >= len(self):
            return self
        if self.tokens is not None:
            length = self.shape[0]
            return dataclasses.replace(self, raw=self.raw[:n], tokens=self.tokens[: n * length])
        index = torch.linspace(0, len(self) - 1, n).round().long()
        return dataclasses.replace(
            self,
            raw=self.raw[index],
            labels=None if self.labels is None else self.labels[index],
            maps=None if self.maps is None else self.maps[index],
        )

    @property
    def x(self) -> Tensor:
        """All examples at the model's levels (the fixed sample for dynamic binarization): long (N, *shape)."""
        return self.fixed.long()
