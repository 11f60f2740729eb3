"""`chainrule bench`: quality (test NLL after a budget) and throughput (training examples/s) benchmarks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from chainrule.bench import compression, latent, ood, quality, sampling, throughput, upscale
from chainrule.bench.machine import describe
from chainrule.errors import ConfigError
from chainrule.models import available


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("bench", help="run benchmarks", description="Benchmarks; figures for BENCHMARKS.md.")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    q = kinds.add_parser("quality", help="test NLL after a training budget")
    q.add_argument("cases", nargs="*", default=list(quality.CASES), help=f"cases: {', '.join(quality.CASES)}")
    q.add_argument("--minutes", type=float, help="override each case's budget")
    q.add_argument("--out", default="runs/bench", help="where the runs go")
    q.set_defaults(run=run_quality)
    t = kinds.add_parser("throughput", help="training examples/s, fp32 vs bf16")
    t.add_argument("--model", default="made", choices=available())
    t.add_argument("--data", default="fashion-mnist")
    t.add_argument("--levels", type=int, help="levels K (default: the data's own; not for text)")
    t.add_argument("--preset", default="cpu")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--steps", type=int, default=10)
    t.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    t.add_argument("--device", default="cpu")
    t.add_argument("--sample", type=int, default=0, metavar="N", help="also time drawing N samples")
    t.add_argument(
        "--variants",
        nargs="+",
        default=["fp32", "bf16"],
        choices=list(throughput.VARIANTS),
        help="speed settings to time (default: fp32 bf16)",
    )
    t.add_argument(
        "--generate",
        type=int,
        default=0,
        metavar="N",
        help="sequence models: tokens/s generating N tokens, cache on/off",
    )
    t.set_defaults(run=run_throughput)
    s = kinds.add_parser("sampling", help="seconds to draw images, naive vs cached")
    s.add_argument("--models", nargs="+", default=sampling.image_models(), help="default: every image model")
    s.add_argument("--presets", nargs="+", default=["cpu"], help="default: cpu")
    s.add_argument("--shapes", nargs="+", default=list(sampling.SHAPES), choices=list(sampling.SHAPES))
    s.add_argument("-n", type=int, default=16, help="images per draw (default 16)")
    s.add_argument("--repeats", type=int, default=3, help="median of this many draws (default 3)")
    s.add_argument(
        "--naive-passes",
        type=int,
        default=0,
        metavar="P",
        help="estimate naive time as sub-pixels x the median of P full passes (for presets where it takes hours)",
    )
    s.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    s.add_argument(
        "--cases",
        nargs="+",
        choices=list(sampling.CASES),
        help=f"named cases instead of the model x preset x shape grid: {', '.join(sampling.CASES)}",
    )
    s.set_defaults(run=run_sampling)
    o = kinds.add_parser("ood", help="out-of-distribution detection: AUROC/AUPRC/FPR95 of every scoring method")
    o.add_argument("--images", default=ood.DEFAULT_IMAGE_MODEL, help="Fashion-MNIST model at 256 levels (run or zoo)")
    o.add_argument("--background", help="its background model for the ratio method (trained with --perturb)")
    o.add_argument("--audio", default=ood.DEFAULT_AUDIO_MODEL, help="speech model (run or zoo); 'none' to skip")
    o.add_argument("--photos", help="a photos32 model (run) to test against other images")
    o.add_argument("--limit", type=int, default=2000, help="examples per set (default 2000; audio: segments)")
    o.add_argument("--batch", type=int, default=5, help="typicality: inputs per batch (default 5)")
    o.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    o.add_argument(
        "--choose",
        action="store_true",
        help="choose the ratio's background by Ren et al.'s protocol: train one per (μ, λ) in {0.1, 0.2, 0.3} x "
        "{0, 10, 100} like --images (same family, preset and settings), score Fashion-MNIST vs letters validation "
        "images, name the best, then report the test pair (Fashion-MNIST vs MNIST) for each",
    )
    o.add_argument(
        "--out", default="runs/ood-choice", help="--choose: where the backgrounds go (default runs/ood-choice)"
    )
    o.add_argument("--jobs", type=int, default=1, help="--choose: backgrounds trained at a time (default 1)")
    budget = o.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="--choose: training steps per background")
    budget.add_argument(
        "--minutes", type=float, help="--choose: minutes per background (default 2, when --steps is not given)"
    )
    o.add_argument(
        "--final-steps",
        type=int,
        nargs="+",
        metavar="N",
        help="--choose: train the chosen (μ, λ) again for each of these step budgets (e.g. 200 2000) before the test "
        "pair; the budget with the best validation AUROC (the grid's own included) is picked",
    )
    o.add_argument(
        "--grid-test-limit",
        type=int,
        metavar="N",
        help="--choose: the test pair on the chosen background only, every grid point on the first N of each set",
    )
    o.set_defaults(run=run_ood)
    v = kinds.add_parser("latent", help="a VQ-VAE and its prior: PSNR, codebook use, bits per code, speed, lossy rate")
    v.add_argument("prior", help="a prior over VQ-VAE codes (run or zoo), keeping its VQ-VAE")
    v.add_argument("--top", metavar="TOP_RUN", help="PRIOR models the bottom codes of a VQ-VAE-2: its top codes' prior")
    v.add_argument("--limit", type=int, default=64, help="test images for PSNR and rate-distortion (default 64)")
    v.add_argument("-n", type=int, default=16, help="images per timed draw (default 16)")
    v.add_argument("--no-pixel", action="store_true", help="skip timing the pixel-level model of equal size")
    v.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    v.set_defaults(run=run_latent)
    u = kinds.add_parser("upscale", help="image-to-image: conditional vs unconditional NLL, PSNR/SSIM vs bicubic")
    u.add_argument("run_dir", metavar="RUN", help="a run trained with --condition lowres:F or grey")
    u.add_argument("--unconditional", help="an unconditional run of the same data and budget")
    u.add_argument("--images", type=int, default=32, help="test images (default 32)")
    u.add_argument("-n", type=int, default=4, help="samples per image (default 4)")
    u.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    u.set_defaults(run=run_upscale)
    w = kinds.add_parser("video", help="frame prediction: cached vs naive VPN, and the latent route, seconds per video")
    w.add_argument("run_dir", help="a trained vpn run")
    w.add_argument("--given", type=int, default=10, help="frames given (default 10)")
    w.add_argument("-n", type=int, default=1, help="videos predicted together (default 1)")
    w.add_argument("--repeats", type=int, default=3, help="timed repeats, median (default 3)")
    w.add_argument("--prior", help="a prior over codes:VQVAE of the same videos' frames (the latent route)")
    w.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    w.set_defaults(run=run_video)
    m = kinds.add_parser(
        "completion",
        help="bits per hidden value given the rest: an any-order model's exact figure vs a raster model's particles",
    )
    m.add_argument("raster", help="a raster-order run (or zoo:NAME) of the same data")
    m.add_argument("lmconv", help="an any-order (lmconv) run")
    m.add_argument("-n", type=int, default=16, help="test images (default 16)")
    m.add_argument(
        "--particles", default="32,512", help="candidates per image for the raster estimate (default 32,512)"
    )
    m.add_argument(
        "--picture",
        metavar="PNG",
        help="also write completions of a hidden centre, top half and random half: originals, masked, the "
        "any-order model's exact ones, the raster model's (the first --particles count)",
    )
    m.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    m.set_defaults(run=run_completion)
    c = kinds.add_parser("compression", help="learned coder vs model NLL vs classic codecs on a run's test split")
    c.add_argument("runs", nargs="+", help="trained run directories (image, text or audio)")
    c.add_argument("--limit", type=int, help="first N test images (tokens, samples) only (default: all)")
    c.add_argument("--device", default="cpu")
    c.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    c.set_defaults(run=run_compression)


def run_quality(args: argparse.Namespace) -> int:
    unknown = [c for c in args.cases if c not in quality.CASES]
    if unknown:
        from chainrule.errors import UnknownNameError

        raise UnknownNameError(f"unknown case(s) {', '.join(unknown)}; available: {', '.join(quality.CASES)}")
    print(f"machine: {describe()}")
    for name in args.cases:
        row = quality.run_case(name, Path(args.out), args.minutes, progress=not args.verbose)
        print(
            f"| {name} | {row['data']} | {row['budget_minutes']:g} min | {row['steps']} steps | "
            f"{row['parameters']:,} params | test {row['test_nats']:.2f} nats ({row['test_bpd']:.4f} bpd) | "
            f"baseline {row['baseline_nats']:.2f} nats |"
            + (f" dequantized bound {row['test_dequantized_bpd']:.4f} bpd |" if "test_dequantized_bpd" in row else "")
        )
        if args.verbose:
            print(json.dumps(row, indent=2, default=str))
    return 0


def run_sampling(args: argparse.Namespace) -> int:
    begin(args)
    for case in args.cases or []:
        row = sampling.measure_case(case, args.repeats)
        print(
            f"| {case} | {row['parameters']:,} params | {row['n']} images | naive {row['naive_s']:.2f} s | "
            f"cached {row['cached_s']:.3f} s | {row['speedup']:.1f}x | {row['step_us']:.0f} µs/step, "
            f"{row['step_gflops']:.1f} GFLOP/s |",
            flush=True,
        )
    for model in [] if args.cases else args.models:
        for preset in args.presets:
            for shape in args.shapes:
                row = sampling.measure(model, preset, shape, args.n, args.repeats, args.naive_passes)
                cached = f"{row['cached_s']:.2f} s | {row['speedup']:.1f}x"
                estimated = " (estimated)" if row["naive_estimated"] else ""
                print(
                    f"| {model} {preset} | {shape} | {row['parameters']:,} params | {args.n} images | "
                    f"naive {row['naive_s']:.2f} s{estimated} | cached {cached} |",
                    flush=True,
                )
    return 0


def begin(args: argparse.Namespace) -> None:
    """What every CPU benchmark starts with: its thread count, and the machine it runs on."""
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {describe()}")


def run_ood(args: argparse.Namespace) -> int:
    begin(args)
    if args.choose:
        if args.steps is not None and args.steps < 1 or args.minutes is not None and args.minutes <= 0:
            raise ConfigError("--steps must be ≥ 1 and --minutes > 0")
        budget = {"steps": args.steps} if args.steps else {"minutes": args.minutes or 2.0}
        if args.jobs < 1:
            raise ConfigError("--jobs must be ≥ 1")
        if any(steps < 1 for steps in args.final_steps or ()):
            raise ConfigError("--final-steps must be ≥ 1")
        finals = tuple({"steps": steps} for steps in args.final_steps or ())
        if args.grid_test_limit is not None and args.grid_test_limit < 1:
            raise ConfigError("--grid-test-limit must be ≥ 1")
        ood.choose(
            args.images,
            Path(args.out),
            budget,
            limit=args.limit,
            jobs=args.jobs,
            finals=finals,
            grid_test_limit=args.grid_test_limit,
        )
        return 0
    print("| in | out | method | AUROC | AUPRC | FPR@95%TPR | mean score in / out |")
    print("|---|---|---|---:|---:|---:|---:|")
    jobs = [(args.images, ood.image_sets(args.limit), args.background)]
    if args.photos:
        jobs.append((args.photos, ood.photo_sets(args.limit), None))
    if args.audio != "none":
        jobs.append((args.audio, ood.audio_sets(min(args.limit, 200)), None))
    for run, sets, background in jobs:
        for row in ood.evaluate(run, sets, background, args.batch):
            method = row["method"] + (f" ({row['codec']})" if row["codec"] else "")
            print(
                f"| {row['in']} | {row['out']} | {method} | {row['auroc']:.3f} | {row['auprc']:.3f} | "
                f"{row['fpr95']:.3f} | {row['inside_mean']:.3f} / {row['outside_mean']:.3f} |",
                flush=True,
            )
    return 0


def run_upscale(args: argparse.Namespace) -> int:
    begin(args)
    row = upscale.figures(args.run_dir, args.unconditional, args.images, args.n)
    uncond = row.get("unconditional_bpd")
    line = f"| {row['data']} {row['task']} | conditional {row['conditional_bpd']:.4f} bits/dim"
    print(line + (f" | unconditional {uncond:.4f} bits/dim |" if uncond is not None else " |"))
    if "sample_psnr" in row:
        print("| | PSNR (dB) | SSIM |\n|---|---:|---:|")
        for name in ("sample", "mean", "bicubic"):
            print(f"| {name} | {row[f'{name}_psnr']:.2f} | {row[f'{name}_ssim']:.4f} |")
        print(
            f"consistency: MSE {row['consistency_mse']:.3f} (bicubic {row['bicubic_consistency_mse']:.3f}), "
            f"{100 * row['consistency_within_1']:.1f} % within ±1 level; {row['seconds_per_image']:.3f} s per image"
        )
    print(json.dumps(row))
    return 0


def run_latent(args: argparse.Namespace) -> int:
    begin(args)
    row = latent.figures(args.prior, args.limit, args.n, pixel=not args.no_pixel, top=args.top)
    shape = "x".join(map(str, row["image_shape"]))
    print(f"{row['images']} test images {shape} → codes {row['code_shape']} of K = {row['codes']}")
    print(
        f"| VQ-VAE | PSNR {row['psnr']:.2f} dB | codes used {100 * row['usage']:.1f} % | "
        f"perplexity {row['perplexity']:.1f} | dead {row['dead']} |"
    )
    print(
        f"| codebook over splits | train: {100 * row['train_usage']:.1f} % used, perplexity "
        f"{row['train_perplexity']:.1f} | test: {100 * row['test_usage']:.1f} %, {row['test_perplexity']:.1f} |"
    )
    if "prior_bits_per_code" in row:
        per_code = row["prior_bits_per_code"]
        per_code = " + ".join(f"{b:.4f}" for b in per_code) if isinstance(per_code, list) else f"{per_code:.4f}"
        print(f"| prior | {per_code} bits/code | {row['prior_bits_per_pixel']:.4f} bits/pixel |")
    print("| coder | bits/pixel | PSNR (dB) |\n|---|---:|---:|")
    print(f"| VQ-VAE + prior (one file) | {row['lossy_bpp']:.4f} | {row['lossy_psnr_mean']:.2f} |")
    for fmt in [f.lower() for f in latent.classic_formats()]:
        print(f"| {fmt.upper()} at matched PSNR (a file each) | {row[f'{fmt}_bpp']:.4f} | {row[f'{fmt}_psnr']:.2f} |")
    line = f"| sampling {args.n} | latent {row['latent_seconds']:.2f} s ({row['latent_step_ms']:.2f} ms/step)"
    if "pixel_seconds" in row:
        line += (
            f" | pixel-level {row['pixel_parameters']:,} weights {row['pixel_seconds']:.2f} s "
            f"({row['pixel_step_ms']:.2f} ms/step) | {row['speedup']:.1f}x |"
        )
    print(line)
    print(json.dumps(row))
    return 0


def run_throughput(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {describe(args.device)}")
    row = throughput.measure(
        args.model,
        args.data,
        args.levels,
        args.preset,
        args.batch_size,
        args.steps,
        args.device,
        args.sample,
        args.generate,
        tuple(args.variants),
    )
    sampled = f" {args.sample} samples in {row['sample_seconds']:.1f} s |" if args.sample else ""
    speeds = " | ".join(
        f"{v} {row[f'{v}_examples_per_s']:.3g} ex/s ({row[f'{v}_examples_per_s'] / row['fp32_examples_per_s']:.2f}x, "
        f"{row[f'{v}_of_peak']:.1%} of peak)"
        for v in dict.fromkeys(("fp32", *args.variants))
    )
    print(
        f"| {row['model']} {row['preset']} | {row['data']} | {row['parameters']:,} params | batch {row['batch_size']} "
        f"| {speeds} |{sampled}"
    )
    print(
        f"| {row['flops_per_example'] / 1e6:,.1f} MFLOP per example (forward + backward) | measured peak: fp32 "
        f"{row['peak_fp32_flops'] / 1e9:.1f} GFLOP/s, bf16 {row['peak_bf16_flops'] / 1e9:.1f} GFLOP/s |"
    )
    if args.generate:
        print(
            f"| tokens/s training fp32 {row['fp32_examples_per_s'] * row['tokens_per_example']:.0f} | "
            f"generating {args.generate}: cached {row['cached_tokens_per_s']:.1f} tokens/s, uncached "
            f"{row['uncached_tokens_per_s']:.1f} tokens/s, speed-up {row['cache_speedup']:.1f}x |"
        )
    return 0


def run_video(args: argparse.Namespace) -> int:
    from chainrule.bench import video

    begin(args)
    row = video.measure(args.run_dir, args.given, args.n, args.repeats, prior=args.prior)
    print(
        f"{args.run_dir}: vpn {row['parameters']:,} weights, videos {row['shape']} at {row['levels']} levels; "
        f"{row['frames']} frames predicted given {args.given}, {args.n} video(s) at once"
    )
    print("| sampler | seconds per video | vs cached |\n|---|---:|---:|")
    print(f"| vpn, cached (layer steps; given frames filed at once) | {row['seconds']:.2f} | 1 |")
    naive, speedup = row["naive_seconds"], row["speedup"]
    print(f"| vpn, naive (a full pass per value; estimated) | {naive:,.0f} | {speedup:,.0f}x slower |")
    if "latent_seconds" in row:
        print(
            f"| latent: prior over {row['code_shape']} codes + VQ-VAE decode | {row['latent_seconds']:.2f} | "
            f"{row['latent_speedup']:.1f}x faster |"
        )
    return 0


def run_completion(args: argparse.Namespace) -> int:
    from chainrule.bench import completion
    from chainrule.errors import InputError

    begin(args)
    try:
        particles = tuple(int(k) for k in args.particles.split(","))
    except ValueError:
        raise InputError(f"--particles {args.particles}: comma-separated counts, e.g. 32,512") from None
    if args.n < 1 or min(particles) < 1:
        raise InputError("-n and every --particles count must be at least 1")
    found = completion.measure(args.raster, args.lmconv, args.n, particles)
    print(f"{args.n} test images; bits per hidden value of the true image given the rest (seconds per image)")
    head = " | ".join(f"{args.raster}, N = {k} (estimate)" for k in particles)
    print(f"| mask | hidden values | {args.lmconv} (exact) | {head} |")
    print("|---|---:|---:|" + "---:|" * len(particles))
    for row in found["rows"]:
        cells = " | ".join(f"{row[f'raster_{k}_bits']:.4f} ({row[f'raster_{k}_seconds']:.1f} s)" for k in particles)
        print(f"| {row['mask']} | {row['hidden']} | {row['exact_bits']:.4f} ({row['exact_seconds']:.2f} s) | {cells} |")
    if args.picture:
        completion.picture(args.raster, args.lmconv, args.picture, min(args.n, 8), particles[0])
        print(f"completions: {args.picture}")
    return 0


def run_compression(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        from chainrule.errors import InputError

        raise InputError(f"--limit {args.limit} must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {describe(args.device)}")
    for run in args.runs:
        row = compression.measure(run, args.limit, args.device, progress=not args.verbose)
        print(f"\n{row['run']}: {row['data']} ({row['values']:,} values)\n")
        print("| coder | bits/dim | vs learned |\n|---|---:|---:|")
        print(f"| model NLL (evaluation) | {row['model_bpd']:.4f} | |")
        print(f"| model NLL along the coder's walk | {row['walk_bpd']:.4f} | |")
        print(
            f"| **learned coder, real file** ({row['bytes']:,} bytes; overhead {100 * row['overhead']:.2f} %; "
            f"encode {row['encode_per_s']:,.0f}/s, decode {row['decode_per_s']:,.0f}/s) | "
            f"**{row['coded_bpd']:.4f}** | |"
        )
        for name, bpd in row["classic"].items():
            if isinstance(bpd, str):
                print(f"| {name} | {bpd} | |")
            else:
                saving = 100 * (1 - row["coded_bpd"] / bpd)
                print(f"| {name} | {bpd:.4f} | {abs(saving):.1f} % {'fewer' if saving >= 0 else 'more'} bits |")
    return 0
