"""The model contract: one causal pass gives the parameters of every conditional; the rest is generic.

A model subclasses `AutoregressiveModel`, sets a likelihood `head`, implements `forward(x, cond)` and, if its
order is not raster, overrides `order` and `ordering` (an any-order model also `ordered`). Likelihood,
sampling, completion, saving and loading come from here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from chainrule import config as cfg
from chainrule import serialization, zoo
from chainrule.data.condition import Condition
from chainrule.distributions import LikelihoodHead
from chainrule.errors import CheckpointError, ConfigError, InputError
from chainrule.models.footprint import Footprint
from chainrule.models.trainable import CONFIG_FILE, WEIGHTS_FILE, Trainable
from chainrule.orders import Ordering
from chainrule.registry import Registry

MODELS = Registry("model")
register = MODELS.register


def check_shape_levels(shape: tuple[int, ...], levels: int) -> None:
    """Validate the data spec every model config carries.

    Raises:
        ConfigError: for an empty shape, non-positive sizes or fewer than 2 levels.
    """
    if not shape or any(int(s) < 1 for s in shape):
        raise ConfigError(f"shape={tuple(shape)} must be a non-empty tuple of positive sizes")
    if levels < 2:
        raise ConfigError(f"levels={levels} must be at least 2")


def raster_order(shape: tuple[int, ...]) -> Tensor:
    """Flat indices in raster order: for images (C, H, W) row by row, R before G before B within a pixel;
    for other shapes, the flat order. long (prod(shape),)."""
    flat = torch.arange(math.prod(shape)).reshape(shape)
    return flat.movedim(0, -1).reshape(-1) if len(shape) == 3 else flat.reshape(-1)


class AutoregressiveModel(Trainable):
    """Base class of every exact-likelihood model: p(x) = Π_t p(x_order[t] | x_order[<t]).

    Subclasses set `self.head` and implement `forward(x, cond) -> params` (B, *head.param_shape(shape)). Streams:
    `carries_state` marks a model whose state is carried from one chunk of a stream to the next in training (the
    trainer then hands consecutive chunks and calls `reset_carry`).
    """

    head: LikelihoodHead

    # --- the contract -------------------------------------------------------------------------------------

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def dims(self) -> int:
        """Number of dimensions D = prod(shape)."""
        return math.prod(self.shape)

    @property
    def order(self) -> Tensor:
        """Flat indices of the dimensions in generation order: long (D,). Raster order by default (for images
        (C, H, W): row by row, and R before G before B within a pixel). For an any-order model, the order of the
        current `ordered` block."""
        return raster_order(self.shape)

    @property
    def ordering(self) -> Ordering:
        """What the order is (`chainrule.orders.Ordering`): the raster scan by default; a family with an order of
        its own says FIXED, one that takes any order at call time ANY (and implements `ordered`)."""
        return Ordering.RASTER

    @property
    def trained_orders(self) -> tuple[str, ...]:
        """The named orders an any-order model was trained over (the first is its default); () for the others."""
        return ()

    @contextmanager
    def ordered(self, order: str | Tensor) -> Iterator[None]:
        """Use `order` (a name of `chainrule.orders` or a permutation of the pixels) for the calls inside the block:
        only models whose `ordering` is ANY take one.

        Raises:
            InputError: for a model of one order."""
        raise InputError(
            f"this {self.registry_name} model generates in one order ({self.ordering.value}); "
            "only an any-order model (lmconv) takes an order"
        )
        yield  # pragma: no cover - a generator for contextmanager

    # --- likelihood ---------------------------------------------------------------------------------------

    def check_input(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """x as a long tensor, checked: any integer dtype (uint8, int16, int32, int64, ...) of shape (B, *shape)
        with values in [0, levels), and a fitting cond.

        Raises:
            InputError: for a float or bool tensor, a wrong shape, values outside the levels or an unfit cond.
        """
        if not isinstance(x, Tensor) or x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise InputError(f"x must be an integer tensor of shape (B, {', '.join(map(str, self.shape))})")
        if tuple(x.shape[1:]) != self.shape:
            raise InputError(f"x has shape {tuple(x.shape)}; this model takes (B, {', '.join(map(str, self.shape))})")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.levels):
            raise InputError(f"x has values in [{int(x.min())}, {int(x.max())}]; allowed: 0..{self.levels - 1}")
        self.check_cond(cond, x.shape[0])
        return x.long()

    def check_cond(self, cond: Tensor | Condition | None, batch: int) -> None:
        """Raise `InputError` unless cond fits: None, long (B,) class ids, float (B, cond_dim) vectors, or a
        `Condition` of any of them with the spatial map the model reads ((B, *map_shape): long codes in
        [0, map_levels), or float values). A model with a map needs it."""
        if self.map_shape and (not isinstance(cond, Condition) or cond.map is None):
            shape = ", ".join(map(str, (batch, *self.map_shape)))
            given = f"its top codes ({self.map_levels} levels)" if self.map_levels else "a conditioning image (values)"
            raise InputError(
                f"this {self.registry_name} model reads a conditioning map: {given} of shape ({shape}); pass "
                "cond=Condition(map=...) of that shape (at the command line: upscale / colourise for an image-to-"
                "image model, sample --top for a prior over bottom codes)"
            )
        if cond is None:
            return
        if not isinstance(cond, Tensor | Condition) or not (self.num_classes or self.cond_dim or self.map_shape):
            raise InputError(f"this {self.registry_name} model is unconditional; cond must be None")
        parts = Condition.of(cond)
        if parts.vector is not None:
            if not self.cond_dim or tuple(parts.vector.shape) != (batch, self.cond_dim):
                raise InputError(f"a conditioning vector must have shape ({batch}, {self.cond_dim}) for this model")
        if parts.classes is not None:
            classes = parts.classes
            if not self.num_classes or tuple(classes.shape) != (batch,) or classes.dtype.is_floating_point:
                raise InputError(f"cond must be an integer tensor of shape ({batch},) with class ids")
            if classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= self.num_classes):
                raise InputError(f"cond has a class outside 0..{self.num_classes - 1}")
        if parts.map is not None:
            self.check_map(parts.map, batch)

    def check_map(self, m: Tensor, batch: int) -> None:
        shape = (batch, *self.map_shape)
        if not self.map_shape or tuple(m.shape) != shape:
            raise InputError(f"the conditioning map has shape {tuple(m.shape)}; this model reads {shape or 'none'}")
        if self.map_levels:
            if m.dtype.is_floating_point or m.dtype == torch.bool:
                raise InputError("this model's conditioning map holds codes: an integer tensor")
            if m.numel() and (int(m.min()) < 0 or int(m.max()) >= self.map_levels):
                raise InputError(f"the conditioning map has codes outside 0..{self.map_levels - 1}")
        elif not m.dtype.is_floating_point:
            raise InputError("this model's conditioning map holds values: a float tensor")

    def log_prob(self, x: Tensor, cond: Tensor | None = None, reduction: Literal["sum", "none"] = "sum") -> Tensor:
        """Exact log-likelihood in nats.

        Args:
            x: integer (B, *shape) with values in [0, levels), any integer dtype.
            cond: optional long (B,) class ids for conditional models.
            reduction: "sum" → (B,) log p(x); "none" → (B, *shape) log p(x_i | x_<i).

        Raises:
            InputError: for a wrong shape, dtype or level range.
        """
        x = self.check_input(x, cond)
        per_dim = self.dim_log_probs(x, cond)
        return per_dim.flatten(1).sum(1) if reduction == "sum" else per_dim

    def dim_log_probs(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """log p(x_i | x_<i) for every dimension, no input checks: (B, *shape)."""
        return self.head.log_prob(self(x, cond), x)

    def training_log_prob(self, x: Tensor, cond: Tensor | None, step: int) -> Tensor:
        """The (B,) log-likelihood the trainer maximises at `step`. Hook for per-step variation (MADE's mask);
        the default is `log_prob`."""
        return self.dim_log_probs(x, cond).flatten(1).sum(1)

    # --- the training contract (`models.trainable`): maximum likelihood ---------------------------------------

    def objective(self, x: Tensor, cond: Tensor | None, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """Negative log-likelihood in nats per dimension; the batch's bits/dim as its metric."""
        loss = -self.training_log_prob(x, cond, step).float().mean() / self.dims
        return loss, {"bpd": loss.detach() / math.log(2)}

    def evaluation_sums(self, x: Tensor, cond: Tensor | None) -> dict[str, float]:
        return {"nats": -float(self.log_prob(x, cond).double().sum())}

    def evaluation_result(self, sums: dict[str, float], examples: int) -> dict[str, float]:
        """{"nats": nats per example, "bpd": bits per dimension}."""
        nats = sums["nats"] / examples
        return {"nats": nats, "bpd": nats / (self.dims * math.log(2))}

    def next_log_probs(self, x: Tensor, cond: Tensor | None, t: int) -> Tensor:
        """log p(x_order[t] = k | x_order[<t]) for all k: (B, K). Entries of x at order[≥t] are ignored."""
        index = tuple(int(i) for i in torch.unravel_index(self.order[t], self.shape))
        return self.head.log_probs_at(self(x, cond), x, index)

    # --- generation ---------------------------------------------------------------------------------------

    def sample(
        self,
        n: int,
        cond: Tensor | None = None,
        temperature: float = 1.0,
        known: Tensor | None = None,
        generator: torch.Generator | None = None,
        cache: bool = True,
        particles: int | None = None,
    ) -> Tensor:
        """Draw n samples: long (n, *shape).

        Args:
            n: number of samples, ≥ 1 (with `known`: the number of examples it holds); more than
                `sampling.requests.SAMPLE_BATCH` are drawn batch by batch, more values than
                `MAX_SAMPLE_VALUES` are refused.
            cond: optional long (n,) class ids.
            temperature: divides the log-probabilities of every conditional (1 = the model); finite and > 0.
            known: optional integer (n, *shape), -1 marking unknown entries; known entries are kept (completion).
            generator: torch.Generator for reproducible draws.
            cache: use the model's generation cache (`init_cache`, `cache_step`); False = the naive path, one
                full pass per dimension (the reference; both give the same samples for the same generator).
            particles: completion that sees every known value: N candidates per example, resampled by the
                probability of the known values that follow unknown ones (`sampling.completion`). Default
                (`sampling.default_particles`): 1 where nothing known follows an unknown value (ancestral
                sampling is then exact), else 32. 1 = plain ancestral sampling.
        """
        from chainrule import sampling  # sampling is written against this contract
        from chainrule.sampling import requests

        requests.check_count(n, self.dims)  # one rule for every path: n ≥ 1, an output that fits, one known each
        requests.check_temperature(temperature)
        requests.check_known_count(n, known)
        if known is None and n > requests.SAMPLE_BATCH:  # a bounded generation state: batch by batch
            step = requests.SAMPLE_BATCH
            parts = [
                self.sample(
                    min(step, n - i),
                    None if cond is None else cond[i : i + step],
                    temperature,
                    None,
                    generator,
                    cache,
                    particles,
                )  # fmt: skip
                for i in range(0, n, step)
            ]
            return torch.cat(parts)
        if particles is None:
            particles = sampling.default_particles(self, known)
        if particles != 1 or (known is not None and self.ordering is Ordering.ANY):  # completion picks the order
            if known is None:
                raise InputError("particles apply to completion: give known values (known=...)")
            done = sampling.complete(self, known, particles, cond, temperature, generator, cache)
            return done.x
        sampler = sampling.sample_cached if cache else sampling.sample_naive
        return sampler(self, n, cond=cond, temperature=temperature, known=known, generator=generator)

    # --- the generation cache: every family has one; the sampler, the coder and completion walk it ----------

    def init_cache(self, n: int, cond: Tensor | None = None) -> Any:  # pragma: no cover - abstract
        """The generation state for n rows (examples, or segments of a stream) with condition `cond`."""
        raise NotImplementedError

    def cache_step(self, cache: Any, previous: Tensor | None) -> Tensor:  # pragma: no cover - abstract
        """Feed the value of the previous dimension in `order` (None at the start), long (n,); returns the
        log-probabilities of the next one, float (n, K). Each call costs what the new value changes."""
        raise NotImplementedError

    def cache_prefix(self, cache: Any, values: Tensor) -> Tensor:
        """Feed the first P values of the order, long (n, P), to a fresh cache when their conditionals are not
        needed (known values that come first in a completion); returns the log-probabilities of dimension P, float
        (n, K), as P + 1 calls of `cache_step` would. A family may file them faster (a video model: whole frames
        read once each)."""
        log_probs = self.cache_step(cache, None)
        for value in values.unbind(1):
            log_probs = self.cache_step(cache, value)
        return log_probs

    @property
    def row_steps(self) -> int:
        """Steps of the order that make one row of the data (C·W for images): where sequential Monte Carlo
        completion may resample. Default ⌈√D⌉."""
        return math.isqrt(self.dims - 1) + 1 if self.dims > 1 else 1

    def reorder_cache(self, cache: Any, index: Tensor) -> Any:
        """The generation cache with its rows regrouped: row r continues row index[r] (long (n,)); part of the cache
        contract (`init_cache`, `cache_step`), used by completion to resample candidates mid-walk. Each family
        implements it for its own cache layout (`index_rows` where every cached tensor leads with the rows)."""
        raise NotImplementedError(f"{self.registry_name} has no reorder_cache for its generation cache")


def index_rows(tree: Any, index: Tensor, n: int) -> Any:
    """`tree` (dataclasses, dicts, lists, tuples of tensors and plain values) with every tensor whose leading
    dimension is the n rows indexed by `index`; other values, and dataclass fields marked shared, kept. For caches
    that hold per-row tensors rows first."""
    if isinstance(tree, Tensor):
        return tree[index.to(tree.device)] if tree.dim() and tree.shape[0] == n else tree
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        # fields marked shared (`nn.raster_step.SHARED`: weights, plans) are not per row
        changes = {
            f.name: index_rows(getattr(tree, f.name), index, n)
            for f in dataclasses.fields(tree)
            if f.init and not f.metadata.get("shared")
        }
        return dataclasses.replace(tree, **changes)
    if isinstance(tree, dict):
        return {key: index_rows(value, index, n) for key, value in tree.items()}
    if isinstance(tree, list | tuple):
        return type(tree)(index_rows(value, index, n) for value in tree)
    return tree


def create(name: str, shape: tuple[int, ...] | list[int], levels: int, **hparams: Any) -> AutoregressiveModel:
    """Build a registered model.

    Raises:
        UnknownNameError: for an unknown model name.
        ConfigError: for unknown or invalid hyper-parameters.
    """
    entry = MODELS.get(name)
    values = {**colour_defaults(entry, tuple(shape), hparams), **hparams}
    config = cfg.from_dict(entry.config, {"shape": tuple(shape), "levels": levels, **values})
    return entry.target(config)


def colour_defaults(entry: Any, shape: tuple[int, ...], given: dict[str, Any]) -> dict[str, int]:
    """Default widths of `entry.colour_fields` that `given` leaves out, rounded up to a multiple of the C colour
    channels of image data (C, H, W), so that every family builds with its defaults on grey and colour images.
    A width the caller gives is kept as it is (and refused by the config when it does not split into C groups)."""
    colours = colour_channels(entry, shape)
    if colours == 1 or not entry.colour_fields or entry.config is None:
        return {}
    defaults = {f.name: f.default for f in dataclasses.fields(entry.config)}
    return {
        name: colour_width(defaults[name], colours)
        for name in entry.colour_fields
        if name not in given and isinstance(defaults.get(name), int)
    }


def colour_channels(entry: Any, shape: tuple[int, ...] | None) -> int:
    """The colour channels C of data of `shape` for a family of the registry entry's kind: (C, H, W) images,
    (T, C, H, W) videos; 1 for anything else."""
    if not shape:
        return 1
    if entry.kind == "image" and len(shape) == 3:
        return int(shape[0])
    if entry.kind == "video" and len(shape) == 4:
        return int(shape[1])
    return 1


def colour_width(width: int, colours: int) -> int:
    """`width` rounded up to a multiple of the C colour channels (masked channel groups need one)."""
    colours = max(1, colours)
    return -(-width // colours) * colours


def parse_description(doc: Any) -> tuple[Any, Any]:
    """The registry entry and the validated config of the JSON document `describe` wrote; nothing is built.

    Raises:
        CheckpointError: a document without a model name and a config object.
        UnknownNameError, ConfigError: an unknown model, unknown or invalid config fields.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), str) or not isinstance(doc.get("config"), dict):
        raise CheckpointError("config.json must hold a 'model' name and a 'config' object")
    entry = MODELS.get(doc["model"])
    return entry, cfg.from_dict(entry.config, doc["config"])


def from_description(doc: Any) -> AutoregressiveModel:
    """Rebuild an (untrained) model from the JSON document `describe` wrote."""
    entry, config = parse_description(doc)
    return entry.target(config)


class _BuildBudget:
    """While active, tallies the bytes of every parameter and buffer any module registers (and a nominal 1 KB per
    submodule) and stops the build once they pass `limit`, so a crafted config (a million layers, a 10^10-weight
    layer) is refused after a few layers instead of running for hours or exhausting memory. The hooks fire when a
    tensor is registered, before a layer initialises (touches) its weights."""

    def __init__(self, limit: int, what: str):
        self.limit, self.what, self.used, self.handles = limit, what, 0, []

    def _count(self, nbytes: int) -> None:
        self.used += nbytes
        if self.used > self.limit:
            raise CheckpointError(f"{self.what} describes a model larger than its weights file; refused")

    def _tensor(self, module: nn.Module, name: str, tensor: Tensor | None) -> None:
        if tensor is not None:
            self._count(tensor.numel() * tensor.element_size())

    def __enter__(self) -> _BuildBudget:
        hooks = nn.modules.module
        self.handles = [
            hooks.register_module_parameter_registration_hook(self._tensor),
            hooks.register_module_buffer_registration_hook(self._tensor),
            hooks.register_module_module_registration_hook(lambda module, name, sub: self._count(1024)),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()


BUILD_BUDGET = 16  # a model may take at most this many times its weights file's bytes (+ 1 MiB) to build


def build_limit(weights: Path) -> int:
    """The bytes a model backed by the weights file `weights` may take to build."""
    return BUILD_BUDGET * weights.stat().st_size + (1 << 20)


def check_footprint(footprint: Footprint, weights: Path, what: Path) -> None:
    """Refuse a config whose closed-form footprint does not fit its weights file, before anything is built: the
    weights count must equal the file's (read from its header alone) and the build work stay within
    BUILD_BUDGET times the file's bytes.

    Raises:
        CheckpointError: naming both counts.
    """
    held = serialization.tensor_elements(weights)
    if footprint.weights != held:
        raise CheckpointError(
            f"{weights} does not match the model in {what.name}: it describes {footprint.weights:,} weights, the "
            f"file holds {held:,}; refused"
        )
    limit = build_limit(weights)
    if footprint.work > limit:
        raise CheckpointError(
            f"{what} describes a model that takes {footprint.work:,} bytes to build, more than {BUILD_BUDGET}x its "
            f"weights file ({limit:,}): refused"
        )


def load(directory: str | Path, device: str | torch.device = "cpu") -> AutoregressiveModel:
    """Load a model saved by `save`, a training run directory or a bundled model `zoo:NAME`, in eval mode.

    Raises:
        CheckpointError: missing, corrupt or truncated files, or weights that do not fit the config.
        UnknownNameError: `zoo:NAME` with a name the zoo does not hold.
    """
    directory = zoo.resolve(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a model directory")
    doc = serialization.read_json(directory / CONFIG_FILE)
    weights = directory / WEIGHTS_FILE
    try:
        entry, config = parse_description(doc)
    except ConfigError as err:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {err}") from None
    check_footprint(entry.target.footprint(config), weights, directory / CONFIG_FILE)
    try:
        # The footprint check above refuses a crafted config from arithmetic alone; the build budget stays as a
        # second guard tied to the file's size.
        with _BuildBudget(build_limit(weights), str(directory / CONFIG_FILE)):
            model = entry.target(config)
    except (MemoryError, RuntimeError) as err:
        raise CheckpointError(f"{directory / CONFIG_FILE} describes a model that cannot be built: {err}") from None
    state = serialization.read_tensors(directory / WEIGHTS_FILE)
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise CheckpointError(f"{directory / WEIGHTS_FILE} does not match the model in {CONFIG_FILE}")
    model.load_state_dict(state)
    return model.to(device).eval()
