"""`chainrule train`: train a model on a dataset into a run directory."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from chainrule.cli.common import check_device
from chainrule.config import parse_overrides
from chainrule.errors import InputError
from chainrule.models import MODELS, available, codes
from chainrule.orders import ENSEMBLE_ORDERS, NAMES
from chainrule.train import distributed, train_model
from chainrule.train.experiment import AUTO_PRESET, resolve_preset
from chainrule.train.precision import PRECISIONS


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="train a model", description="Train a model by maximum likelihood.")
    p.add_argument("--model", help=f"model family: {', '.join(available())}")
    p.add_argument("--data", help="dataset name (see `chainrule datasets`) or a path (.npy/.npz, PNG or IDX folder)")
    p.add_argument("--levels", type=int, help="levels K the model sees (2 binarizes; default: the data's own)")
    p.add_argument(
        "--binarize",
        choices=["threshold", "dynamic", "soft"],
        help="binarization with --levels 2 (soft: grey values read as Bernoulli probabilities, vpn only)",
    )
    p.add_argument("--vocab", choices=["bytes", "chars"], help="text: raw UTF-8 bytes (default) or characters")
    p.add_argument(
        "--length",
        type=int,
        help="text: tokens per chunk / context (default: the preset's, else 256); audio: crop length (4096)",
    )
    p.add_argument("--encoding", choices=["mulaw", "pcm8", "pcm16"], help="audio: sample encoding (default mulaw)")
    p.add_argument("--rate", type=int, help="audio: sample rate in Hz, files are resampled to it (default 8000)")
    p.add_argument("--frames", type=int, help="moving-mnist: frames per sequence (default 20)")
    p.add_argument("--size", type=int, help="moving-mnist: canvas side in pixels (default 64)")
    p.add_argument("--digits", type=int, help="moving-mnist: digits per sequence (default 2)")
    p.add_argument(
        "--condition",
        metavar="TASK",
        help="images: condition on lowres:F (the image downsampled F times: super-resolution) or grey (colourisation)",
    )
    p.add_argument(
        "--mirror",
        action="store_true",
        help="images, and VQ-VAE codes of images: train on every training image and its left-right mirror image",
    )
    p.add_argument(
        "--preset",
        default=AUTO_PRESET,
        help="named hyper-parameters of the model: cpu (small, for a CPU) or paper (the paper's sizes); default auto: "
        "cpu on a CPU, paper on CUDA; none: the model's own defaults",
    )
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="model hyper-parameter")
    p.add_argument("--epochs", type=int, help="budget in epochs")
    p.add_argument("--steps", type=int, help="budget in optimizer steps")
    p.add_argument("--minutes", type=float, help="budget in minutes of training")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu or cuda")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="training step precision (default auto: bf16 autocast on CUDA with bf16, and on CPUs with bf16 "
        "instructions where a few timed passes of the first batch find it faster)",
    )
    p.add_argument("--bf16", action="store_true", help="the same as --precision bf16")
    p.add_argument("--compile", action="store_true", help="torch.compile the training step (pays off on long runs)")
    p.add_argument("--channels-last", action="store_true", help="NHWC weights for convolutional models")
    p.add_argument("--fused", action="store_true", help="fused AdamW kernel")
    p.add_argument(
        "--tensorboard", action="store_true", help="also log scalars and samples for TensorBoard in OUT/tensorboard"
    )
    p.add_argument("--ema", type=float, metavar="DECAY", help="evaluate and keep an EMA of the weights (e.g. 0.999)")
    p.add_argument(
        "--perturb",
        type=float,
        metavar="MU",
        help="train a background model for `score --method ratio`: each training value replaced by a random level "
        "with probability MU (e.g. 0.2)",
    )
    p.add_argument(
        "--l2",
        type=float,
        metavar="LAMBDA",
        help="an L2 penalty LAMBDA · Σ w² per example on the weight matrices (Ren et al.'s background models; e.g. "
        "10), as against --train-set weight_decay (AdamW's decoupled decay)",
    )
    p.add_argument(
        "--orders",
        metavar="K|NAMES",
        help="any-order models (lmconv): train over the first K of the 8 S-curve orientations (default 8), or over "
        "named orders (comma-separated, e.g. raster,s-curve:r90); each batch takes one, drawn from (seed, step)",
    )
    p.add_argument(
        "--train-set",
        dest="train_overrides",
        action="append",
        metavar="KEY=VALUE",
        help="any other training setting (see chainrule.train.TrainConfig)",
    )
    p.add_argument("--out", help="run directory (default runs/MODEL-DATA-TIME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def train_settings(args: argparse.Namespace) -> dict:
    settings = parse_overrides(args.train_overrides)
    named = {
        "epochs": args.epochs,
        "steps": args.steps,
        "minutes": args.minutes,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "device": args.device,
        "precision": "bf16" if args.bf16 else args.precision,
        "compile": True if args.compile else None,
        "channels_last": True if args.channels_last else None,
        "fused": True if args.fused else None,
        "tensorboard": True if args.tensorboard else None,
        "ema": args.ema,
        "perturb": args.perturb,
        "l2": args.l2,
    }
    settings.update({k: v for k, v in named.items() if v is not None})
    if "device" in settings:
        check_device(settings["device"])
    return settings


def order_options(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """--orders: the trained orders of an any-order model, {"orders": names} ({} when not given).

    Raises:
        InputError: for a model of one order, or K outside 1..8."""
    if args.orders is None:
        return {}
    config = MODELS.get(args.model).config
    if config is None or "orders" not in {f.name for f in dataclasses.fields(config)}:
        raise InputError(f"--orders: {args.model} generates in one order; any-order training needs --model lmconv")
    if args.orders.isdigit():
        count = int(args.orders)
        if not 1 <= count <= len(ENSEMBLE_ORDERS):
            raise InputError(f"--orders {count}: choose 1..{len(ENSEMBLE_ORDERS)} (the S-curve's orientations)")
        return {"orders": ENSEMBLE_ORDERS[:count]}
    names = tuple(name.strip() for name in args.orders.split(",") if name.strip())
    unknown = [name for name in names if name not in NAMES]
    if unknown or not names:
        raise InputError(f"--orders: unknown order {', '.join(unknown) or '(none)'}; choose from {', '.join(NAMES)}")
    return {"orders": names}


def video_options(args: argparse.Namespace) -> dict[str, int] | None:
    """--frames, --size, --digits: the geometry of a generated video source (None when none is given)."""
    given = {k: getattr(args, k) for k in ("frames", "size", "digits") if getattr(args, k) is not None}
    return given or None


def run(args: argparse.Namespace) -> int:
    settings = train_settings(args)
    ranks, _ = distributed.setup(settings.get("device", "cpu"))  # under torchrun: join the group
    out = args.out
    if out is None:  # every process takes rank 0's name
        stamp = distributed.share(time.strftime("%Y%m%d-%H%M%S"), ranks)
        out = f"runs/{args.model}-{str(args.data).replace('/', '_').replace(':', '_')}-{stamp}"
    preset = resolve_preset(args.preset, settings.get("device", "cpu"))
    if args.preset == AUTO_PRESET and not args.resume and ranks.main:
        where = "CUDA" if preset == "paper" else "a CPU"
        print(f"chainrule: preset {preset} (the default on {where}; choose another with --preset cpu|paper|none)")
    results = train_model(
        model=args.model,
        data=args.data,
        out=out,
        levels=args.levels,
        binarize=args.binarize,
        preset=preset,
        hparams={**parse_overrides(args.overrides), **order_options(args)},
        train=settings,
        resume=args.resume,
        progress=not args.quiet,
        vocab=args.vocab,
        length=args.length,
        encoding=args.encoding,
        rate=args.rate,
        condition=args.condition,
        video=video_options(args),
        mirror=args.mirror,
    )
    distributed.close()
    if not ranks.main:
        return 0
    if "test_bpd" in results:  # a likelihood model
        unit = "code" if codes.is_codes(results["data"]) else "dim"
        test = f"{results['test_nats']:.2f} nats/example, {results['test_bpd']:.4f} bits/{unit}"
    else:  # the model's own metrics (a VQ-VAE: loss, mse, psnr, codebook use)
        test = ", ".join(f"{k[5:]} {v:.4g}" for k, v in results.items() if k.startswith("test_"))
    print(f"{results['data']}: test {test} after {results['steps']} steps ({results['train_seconds']:.0f} s)")
    if "test_examples" in results:
        print(
            f"(tested on {results['test_examples']:,} of the {results['test_examples_of']:,} test examples, spread "
            "evenly: a short run; --train-set eval_examples=0 tests all, or `chainrule eval RUN`)"
        )
    print(f"run directory: {results['run']}")
    if args.verbose:
        print(json.dumps(results, indent=2))
    return 0
