"""Out-of-distribution benchmark: how well each scoring method tells a model's test data from other data.

Images: a Fashion-MNIST model (256 levels) on its test split against MNIST (mnist-5k's test split) and sets made
from what is installed: uniform noise, constant images (one random grey level each), inverted Fashion-MNIST
(255 − x) and Fashion-MNIST flipped upside down; a photos32 model against other images (`photo_sets`). Audio: a
speech model on one-second segments of its test split against white noise and synthetic tones (sums of sines
with random pitches and envelopes). For each pair and method: AUROC, AUPRC and FPR at 95 % TPR,
out-of-distribution being the positive class. Typicality scores consecutive batches of M inputs (its AUROC is
over batches).
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from chainrule import serialization, zoo
from chainrule.data import load_splits
from chainrule.data.mulaw import encode
from chainrule.errors import ConfigError
from chainrule.models import load
from chainrule.scoring import bits_per_dim, scores_and_bits, separation, validation_bits
from chainrule.train import train_model

DEFAULT_IMAGE_MODEL = "zoo:gated-pixelcnn-fashion-mnist"
DEFAULT_AUDIO_MODEL = "zoo:wavenet-speech"


def image_sets(limit: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """In-distribution first ("fashion-mnist"), then the out-of-distribution sets, each (≤ limit, 1, 28, 28)."""
    g = torch.Generator().manual_seed(seed)
    fashion = load_splits("fashion-mnist")["test"].x[:limit]
    n = len(fashion)
    return {
        "fashion-mnist": fashion,
        "mnist": load_splits("mnist-5k")["test"].x[:limit],
        "noise": torch.randint(0, 256, (n, 1, 28, 28), generator=g),
        "constant": torch.randint(0, 256, (n, 1, 1, 1), generator=g).expand(n, 1, 28, 28).contiguous(),
        "inverted": 255 - fashion,
        "upside-down": fashion.flip(2),
    }


def photo_sets(limit: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """photos32's test patches first, then other images as (3, 32, 32): Fashion-MNIST and MNIST digits padded to
    32x32 with their grey in all three channels, uniform noise, and the photos upside down."""
    g = torch.Generator().manual_seed(seed)
    photos = load_splits("photos32")["test"].x[:limit]
    n = len(photos)

    def as_rgb(grey: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(grey, (2, 2, 2, 2)).expand(-1, 3, -1, -1).contiguous()

    return {
        "photos32": photos,
        "fashion-mnist": as_rgb(load_splits("fashion-mnist")["test"].x[:n]),
        "mnist": as_rgb(load_splits("mnist-5k")["test"].x[:n]),
        "noise": torch.randint(0, 256, (n, 3, 32, 32), generator=g),
        "upside-down": photos.flip(2),
    }


def audio_sets(limit: int, seconds: float = 1.0, seed: int = 0) -> dict[str, list[torch.Tensor]]:
    """Speech segments of the test split, then white noise and synthetic tones, as μ-law code streams."""
    test = load_splits("speech", length=int(8000 * seconds))["test"]
    speech = list(test.x[:limit])
    n, length, rate = len(speech), test.shape[0], test.kind.rate
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / rate
    noise = [encode((0.1 * torch.randn(length, generator=g)).clamp(-1, 0.999), "mulaw") for _ in range(n)]
    tones = []
    for _ in range(n):
        pitches = 110 * 2 ** (torch.rand(3, generator=g) * 3)  # three partials in 110-880 Hz
        envelope = torch.sin(math.pi * t / t[-1]) ** 2
        wave = sum(torch.sin(2 * math.pi * f * t) for f in pitches) / 3 * envelope * 0.5
        tones.append(encode(wave.clamp(-1, 0.999), "mulaw"))
    return {"speech": speech, "noise": noise, "tones": tones}


def evaluate(
    run: str, sets: dict[str, Any], background: str | None = None, batch: int = 5, device: str = "cpu"
) -> list[dict[str, Any]]:
    """Rows (pair, method, auroc, auprc, fpr95, codec) for every out-of-distribution set and method; the first set of
    `sets` is the in-distribution one. Each set passes over the model once (every method starts from its bits)."""
    model = load(run, device)
    back = load(background, device) if background is not None else None
    reference = validation_bits(run)
    methods = ["likelihood", "complexity"] + (["typicality"] if reference is not None else [])
    methods += ["ratio"] if back is not None else []

    def scores(x) -> dict[str, tuple[torch.Tensor, str | None]]:
        bpd, out = bits_per_dim(model, x), {}
        for method in methods:
            values, _, codec = scores_and_bits(model, x, method, back, batch=batch, reference=reference, bpd=bpd)
            out[method] = values, codec
        return out

    names = list(sets)
    inside = scores(sets[names[0]])
    rows = []
    for name in names[1:]:
        outside = scores(sets[name])
        for method in methods:
            (inner, codec), (outer, _) = inside[method], outside[method]
            rows.append(
                {
                    "in": names[0],
                    "out": name,
                    "method": method,
                    **separation(inner.numpy(), outer.numpy()),
                    "codec": codec,
                    "inside_mean": float(inner.mean()),
                    "outside_mean": float(outer.mean()),
                }
            )
    return rows


# --- choosing a likelihood ratio's background (Ren et al. 2019's protocol) -----------------------------------------

MUTATION_RATES = (0.1, 0.2, 0.3)  # μ: the share of a background's training values replaced by random levels
L2_WEIGHTS = (0.0, 10.0, 100.0)  # λ: its L2 penalty per example (`TrainConfig.l2`)
VALIDATION_OUT = "letters"  # the out-of-distribution set the choice is made on (their notMNIST)
TEST_OUT = "mnist-5k"  # the test pair's out-of-distribution set, looked at only after the choice
GRID_EVAL_EXAMPLES = 1000  # of each split, when a background's training ends (the grid's figure is its AUROC)


def grid_name(mu: float, l2: float) -> str:
    return f"background-mu{mu:g}-l2_{l2:g}"


def train_background(
    foreground: str,
    out: Path,
    mu: float,
    l2: float,
    budget: dict[str, float],
    progress: bool = False,
    suffix: str = "",
) -> Path:
    """A background for `foreground` (a run directory): the same family, preset, data and training settings, with
    inputs perturbed at rate `mu` and an L2 penalty `l2`, for `budget` ({"steps": N} or {"minutes": M}), in
    `out/<grid name><suffix>`. A finished run of that name is kept (the grid resumes where it stopped)."""
    run = out / (grid_name(mu, l2) + suffix)
    if (run / "results.json").exists():
        return run
    if (run / "run.json").exists():  # stopped part-way: start it again
        shutil.rmtree(run)
    info = serialization.read_json(zoo.resolve(foreground) / "run.json")
    data = info["data"]
    if data.get("name") != "fashion-mnist" or data.get("levels") != 256:
        raise ConfigError(f"{foreground} is not a Fashion-MNIST model at 256 levels: the grid compares those")
    kept = ("batch_size", "lr", "seed", "precision")  # runs written before a setting existed leave it out or null
    settings = {k: info["train"][k] for k in kept if info["train"].get(k) is not None}
    settings["eval_examples"] = GRID_EVAL_EXAMPLES
    train_model(
        info["model"]["model"],
        "fashion-mnist",
        run,
        levels=256,
        preset=info.get("preset"),
        hparams={k: v for k, v in info["model"]["config"].items() if k not in ("shape", "levels")},
        train={**settings, **budget, "perturb": mu, "l2": l2},
        progress=progress,
    )
    return run


def budget_suffix(budget: dict[str, float]) -> str:
    """How a background trained again for another budget is named after its grid point: -steps2000, -minutes5."""
    return "".join(f"-{key}{value:g}" for key, value in budget.items())


def _train_in_worker(threads: int, *args) -> Path:
    torch.set_num_threads(threads)
    return train_background(*args)


def train_grid(
    foreground: str, out: Path, points: list[tuple[float, float]], budget: dict[str, float], jobs: int, progress: bool
) -> dict[tuple[float, float], Path]:
    """The backgrounds of `points`, trained one after another, or `jobs` at a time in worker processes (each with
    its share of the cores; no progress bars then)."""
    if jobs <= 1:
        return {point: train_background(foreground, out, *point, budget, progress) for point in points}
    threads = max(1, torch.get_num_threads() // jobs)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {
            point: pool.submit(_train_in_worker, threads, foreground, out, *point, budget, False) for point in points
        }
        return {point: future.result() for point, future in futures.items()}


def ratio_separation(
    foreground_bpd: torch.Tensor, background, sets: tuple[torch.Tensor, torch.Tensor]
) -> dict[str, float]:
    """AUROC / AUPRC / FPR95 of the likelihood-ratio score (foreground minus background bits per dimension) between
    sets[0] (in) and sets[1] (out, the positive class); `foreground_bpd` is the foreground's bits of both, joined."""
    joined = torch.cat(sets)
    ratio = foreground_bpd - bits_per_dim(background, joined)
    inner, outer = ratio[: len(sets[0])], ratio[len(sets[0]) :]
    return separation(inner.numpy(), outer.numpy())


def kept_validation(
    out: Path, foreground: str, budget: dict[str, float], inside: int, outside: int
) -> dict[str, dict[str, float]]:
    """The validation figures of a grid measured before in `out` (its choice.json), by background run, when they
    are those of the same foreground, budget and validation sets and no background was trained since; else none."""
    path = out / "choice.json"
    if not path.is_file():
        return {}
    before = serialization.read_json(path)
    if (before.get("foreground"), before.get("budget"), before.get("pair")) != (foreground, budget, [inside, outside]):
        return {}
    written = path.stat().st_mtime
    kept = {}
    for row in before.get("grid", []):
        run = Path(row["run"])
        if (run / "model.safetensors").is_file() and (run / "model.safetensors").stat().st_mtime < written:
            kept[row["run"]] = {k: row[k] for k in ("auroc", "auprc", "fpr95")}
    return kept


def choose(
    foreground: str,
    out: Path,
    budget: dict[str, float],
    limit: int = 2000,
    mus: tuple[float, ...] = MUTATION_RATES,
    l2s: tuple[float, ...] = L2_WEIGHTS,
    progress: bool = True,
    report: Callable[[str], None] = print,
    test_limit: int | None = None,
    jobs: int = 1,
    finals: tuple[dict[str, float], ...] = (),
    grid_test_limit: int | None = None,
) -> dict[str, Any]:
    """Ren et al.'s choice of a background: one background per (μ, λ) of the grid (trained first, all alike but for
    μ and λ), each scored by the ratio's AUROC between Fashion-MNIST validation images and `letters` validation
    images (no test image is looked at); the highest wins (ties: the smaller μ, then λ), written to
    `out/choice.json` before anything else is measured. Then the test pair, Fashion-MNIST test vs MNIST, for every
    grid point, the chosen one first (all of both test splits, or the first `test_limit` of each). `jobs` > 1
    trains that many backgrounds at a time. With `finals`, other budgets, the chosen (μ, λ) is trained again for
    each (as `<grid name>-steps<N>`; the grid's budget only has to rank the points), after the choice and before the
    test pair, and scored on the same validation pair: the budget is chosen on validation as μ and λ are, and the
    background with the highest validation AUROC of the grid's choice and these heads the test table, the others
    beside it. With `grid_test_limit`, the test pair is measured on those backgrounds only, and every grid point on
    the first `grid_test_limit` images of each test set, a second table (scoring all 20,000 test images with every
    background costs more than the grid's training at a small budget).

    Returns:
        {"grid": validation rows, "chosen": the run of the background picked on validation, "test": test rows}."""
    out.mkdir(parents=True, exist_ok=True)
    runs = train_grid(foreground, out, [(mu, l2) for mu in mus for l2 in l2s], budget, jobs, progress)
    for (mu, l2), run in runs.items():
        report(f"background μ = {mu:g}, λ = {l2:g}: {run}")
    model = load(foreground)
    inside = load_splits("fashion-mnist")["val"].x[:limit]
    outside = load_splits(VALIDATION_OUT)["val"].x
    outside = outside[torch.randperm(len(outside), generator=torch.Generator().manual_seed(0))[:limit]]
    validation = (inside, outside)
    foreground_bpd = None
    kept = kept_validation(out, foreground, budget, len(inside), len(outside))
    rows = []
    pair = f"Fashion-MNIST val vs letters val, {len(inside)} vs {len(outside)}"
    report(f"| μ | λ | validation AUROC ({pair}) | AUPRC | FPR@95%TPR |")
    report("|---:|---:|---:|---:|---:|")
    for (mu, l2), run in runs.items():
        if str(run) in kept:
            figures = kept[str(run)]
        else:
            if foreground_bpd is None:
                foreground_bpd = bits_per_dim(model, torch.cat(validation))
            figures = ratio_separation(foreground_bpd, load(str(run)), validation)
        rows.append({"mu": mu, "l2": l2, "run": str(run), **figures})
        report(f"| {mu:g} | {l2:g} | {figures['auroc']:.4f} | {figures['auprc']:.4f} | {figures['fpr95']:.4f} |")
    best = max(rows, key=lambda r: (r["auroc"], -r["mu"], -r["l2"]))
    choice = {
        "foreground": foreground,
        "chosen": best,
        "grid": rows,
        "budget": budget,
        "validation": VALIDATION_OUT,
        "pair": [len(inside), len(outside)],
    }
    serialization.write_json(out / "choice.json", choice)
    report(f"chosen: μ = {best['mu']:g}, λ = {best['l2']:g} ({best['run']}; written to {out / 'choice.json'})")
    candidates = [best]
    for budget_again in finals:
        run = train_background(
            foreground, out, best["mu"], best["l2"], budget_again, progress, budget_suffix(budget_again)
        )
        if foreground_bpd is None:
            foreground_bpd = bits_per_dim(model, torch.cat(validation))
        figures = ratio_separation(foreground_bpd, load(str(run)), validation)
        candidates.append({"mu": best["mu"], "l2": best["l2"], "run": str(run), "final": budget_again, **figures})
        report(
            f"again: μ = {best['mu']:g}, λ = {best['l2']:g} trained for {budget_again} ({run}): validation AUROC "
            f"{figures['auroc']:.4f}, AUPRC {figures['auprc']:.4f}, FPR@95%TPR {figures['fpr95']:.4f}"
        )
    if finals:  # the budget chosen on validation too (ties: the grid's own budget, then the order given)
        best = max(candidates, key=lambda r: r["auroc"])
        choice.update(finals=candidates[1:], picked=best)
        serialization.write_json(out / "choice.json", choice)
        report(f"picked on validation: {best['run']} (validation AUROC {best['auroc']:.4f})")
    # only now the test pair
    fashion, digits = load_splits("fashion-mnist")["test"].x, load_splits(TEST_OUT)["test"].x
    test = (fashion[:test_limit], digits[:test_limit])
    heads = [best] + [r for r in candidates if r is not best]
    if grid_test_limit is None:  # one table: every background on the same test pair
        tables = [(test, heads + [r for r in rows if r not in heads])]
    else:  # the picked and its other budgets on the test pair, then every grid point on the first grid_test_limit
        tables = [(test, heads), ((fashion[:grid_test_limit], digits[:grid_test_limit]), rows)]
    tests = []
    for sets, members in tables:
        foreground_bpd = bits_per_dim(model, torch.cat(sets))
        pair = f"Fashion-MNIST test vs MNIST, {len(sets[0])} vs {len(sets[1])}"
        report(f"| μ | λ | test AUROC ({pair}) | AUPRC | FPR@95%TPR |")
        report("|---:|---:|---:|---:|---:|")
        for row in members:
            figures = ratio_separation(foreground_bpd, load(row["run"]), sets)
            tests.append(
                {"mu": row["mu"], "l2": row["l2"], "run": row["run"], "pair": [len(sets[0]), len(sets[1])], **figures}
            )
            mark = f" ({row['final']})" if "final" in row else ""
            mark += " (picked)" if row["run"] == best["run"] else " (grid's choice)" if row is choice["chosen"] else ""
            report(
                f"| {row['mu']:g} | {row['l2']:g}{mark} | {figures['auroc']:.4f} | {figures['auprc']:.4f} | "
                f"{figures['fpr95']:.4f} |"
            )
    serialization.write_json(out / "test.json", {"chosen": best["run"], "rows": tests})
    return {"grid": rows, "chosen": best["run"], "test": tests}
