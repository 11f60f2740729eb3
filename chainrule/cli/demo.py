"""`chainrule demo`: a few minutes on 2 CPU cores that show what the library does, written up as `report.html`.

1. trains MADE on binarized Fashion-MNIST (the bundled mnist-5k digits when Fashion-MNIST is not installed) and
   reports its test NLL next to the independent-pixel baseline, with samples and completions;
2. draws images and completes half-hidden test images with the zoo's Gated PixelCNN, and completes a hidden
   centre, top half and random half exactly with the zoo's any-order LMConv, beside the raster model's;
3. continues a line of Shakespeare with the zoo's Char-RNN and Transformer;
4. generates a short clip of speech with the zoo's WaveNet;
5. compresses test data with the zoo models (arithmetic coding, checked by decoding) next to classic codecs;
6. judges new inputs with the zoo's Gated PixelCNN: Fashion-MNIST test images and MNIST digits, their bits per
   pixel mapped, by raw likelihood (which favours the digits) and by input complexity (which does not);
7. draws class-conditional 64x64 emoji through the zoo's VQ-VAE-2 and its two priors (top codes, then bottom codes
   given them) with test emoji beside their reconstructions, and 64x64 photographs through the zoo's VQ-VAE and
   its prior over codes, beside 32x32 samples of a pixel-level model of the same photos, and times them;
8. super-resolution: Fashion-MNIST test images reduced to 7x7, drawn back at 28x28 by the zoo's conditional Gated
   PixelCNN, beside bicubic interpolation and the originals;
9. video: the zoo's Video Pixel Network continues bouncing-digit test videos from their first frames (animated
   beside the truth), with the frame-prediction protocol's figure.

A part whose dataset is not installed is skipped with a note; the zoo models themselves need nothing downloaded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from chainrule import scoring, zoo
from chainrule.bench import completion
from chainrule.bench.compression import measure
from chainrule.cli.common import generator, run_data
from chainrule.cli.complete import completion_rows
from chainrule.data import Condition, load_splits
from chainrule.data import emoji as emoji_data
from chainrule.data.audio import write_wav
from chainrule.data.conditions import ConditionTask
from chainrule.data.mulaw import decode
from chainrule.errors import DatasetNotFoundError
from chainrule.media import bitmaps, save_grid
from chainrule.media.report import Report
from chainrule.media.video import save_video
from chainrule.models import codes, load
from chainrule.sampling import DEFAULT_PARTICLES, generate
from chainrule.train import train_model
from chainrule.train.baseline import independent_nll

STEPS = 9
VIDEO = "vpn-moving-mnist"  # a Video Pixel Network of moving-mnist, grey values read as probabilities
LATENT_PRIOR = "gated-pixelcnn-photos64-codes"  # a prior over the codes of a photos64 VQ-VAE (kept in its vqvae/)
EMOJI_TOP = "pixelsnail-emoji64-top-codes"  # VQ-VAE-2 on emoji64: class-conditional prior of the 16x16 top codes
EMOJI_BOTTOM = "gated-pixelcnn-emoji64-bottom-codes"  # ... and of the 32x32 bottom codes given the top codes
PIXEL_PHOTOS = "gated-pixelcnn-photos32"  # a pixel-level model of 32x32 patches of the same photos
ANY_ORDER = "lmconv-fashion-mnist"  # locally masked convolutions: exact completion of any region
UPSCALER = "gated-pixelcnn-fashion-mnist-lowres4"  # Fashion-MNIST given its 7x7 versions (--condition lowres:4)
PROMPT = "KING HENRY:\n"


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "demo",
        help="train, sample, complete and compress in a few minutes; writes report.html",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--minutes", type=float, default=2.0, help="MADE's training budget (default 2)")
    p.add_argument("--out", help="output directory (default runs/demo-TIME)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--small", action="store_true", help="a few values per part instead of the full show (tests)")
    p.set_defaults(run=run)


def pick_dataset() -> tuple[str, dict]:
    """Binarized Fashion-MNIST, or mnist-5k when it is not installed: (name, splits)."""
    try:
        return "fashion-mnist", load_splits("fashion-mnist", 2, "threshold")
    except DatasetNotFoundError as err:
        print(f"note: {err}\nnote: using the bundled mnist-5k digits instead")
        return "mnist-5k", load_splits("mnist-5k", 2, "threshold")


class Show:
    """The demo's state: where it writes, how big each part is, the report it fills and the step it is on."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.args, self.small, self.step_no, self.start = args, args.small, 0, time.perf_counter()
        self.report = Report("chainrule demo")

    def step(self, text: str) -> None:
        self.step_no += 1
        print(f"[{self.step_no}/{STEPS}] {text}  ({time.perf_counter() - self.start:.0f} s)", flush=True)

    def size(self, full: int, small: int) -> int:
        return small if self.small else full

    def skip(self, what: str, err: Exception) -> None:
        print(f"note: {what} skipped: {err}")
        self.report.paragraph(f"{what} skipped: {err}", note=True)

    def gen(self) -> torch.Generator:
        return generator(self.args.seed)


def train_made(show: Show) -> None:
    data, splits = pick_dataset()
    run_dir = show.out / "made"
    minutes = show.args.minutes
    show.step(f"training MADE on binarized {data} for {minutes:g} min on the CPU -> {run_dir}")
    results = train_model(
        "made",
        data,
        run_dir,
        levels=2,
        binarize="threshold",
        preset="cpu",
        train={"minutes": minutes, "seed": show.args.seed},
    )
    baseline = independent_nll(splits["train"], splits["test"])
    print(
        f"test NLL: MADE {results['test_nats']:.2f} nats/image ({results['test_bpd']:.4f} bits/dim), "
        f"independent pixels {baseline['nats']:.2f} nats/image ({baseline['bpd']:.4f} bits/dim)"
    )
    model, gen = load(run_dir), show.gen()
    save_grid(model.sample(show.size(36, 4), generator=gen), model.levels, show.out / "made-samples.png", columns=6)
    grid, missing, _ = completion_rows(model, splits["test"].x[: show.size(10, 2)], "bottom", 1.0, gen)
    save_grid(grid, model.levels, show.out / "made-completions.png", columns=show.size(10, 2), missing=missing)

    r = show.report
    r.heading(f"1. MADE trained here on binarized {data} ({minutes:g} min, 2 CPU cores)")
    r.code(
        f"chainrule train --model made --data {data} --levels 2 --binarize threshold --preset cpu --minutes {minutes:g}"
    )
    r.table(
        ["model", "test NLL (nats/image)", "bits/dim", "steps", "parameters"],
        [
            ["MADE (cpu preset)", results["test_nats"], results["test_bpd"], results["steps"], results["parameters"]],
            ["independent pixels (counted)", baseline["nats"], baseline["bpd"], "–", "–"],
        ],
    )
    r.image("made/loss.png", "training and validation loss", width=420)
    r.image("made-samples.png", "samples", width=240)
    r.image("made-completions.png", "test images; the bottom half hidden (red); MADE's completions", width=420)


def zoo_images(show: Show) -> None:
    name = "gated-pixelcnn-fashion-mnist"
    directory = zoo.resolve(zoo.PREFIX + name)
    show.step(f"zoo:{name}: samples and completions of half-hidden test images")
    model, gen = load(directory), show.gen()
    n = show.size(16, 2)
    save_grid(model.sample(n, generator=gen), model.levels, show.out / "gated-samples.png", columns=min(n, 8))
    r = show.report
    r.heading(f"2. Gated PixelCNN from the zoo (zoo:{name}, {zoo.entries()[name]['test']} on the test split)")
    r.code(f"chainrule sample zoo:{name} -n {n}")
    r.image("gated-samples.png", f"{n} samples at 256 levels", width=448)
    try:
        x = run_data(directory, "test").x[: show.size(8, 2)]
    except DatasetNotFoundError as err:
        show.skip("the completion (needs Fashion-MNIST)", err)
        return
    grid, missing, _ = completion_rows(model, x, "bottom", 1.0, gen)
    save_grid(grid, model.levels, show.out / "gated-completions.png", columns=len(x), missing=missing)
    r.image("gated-completions.png", "test images; the bottom half hidden (red); completions", width=448)
    # the centre hidden: known pixels follow the hidden ones, so plain sampling (1 candidate) ignores the lower
    # part of the frame; N candidates resampled by their fit see it
    x = x[: show.size(4, 1)]
    particles = show.size(DEFAULT_PARTICLES, 4)
    rows = {count: completion_rows(model, x, "center", 1.0, show.gen(), count) for count in (1, particles)}
    grid = torch.cat([rows[1][0], rows[particles][0][2 * len(x) :]])
    missing = torch.cat([rows[1][1], torch.zeros_like(rows[1][1][: len(x)])])
    save_grid(grid, model.levels, show.out / "gated-center.png", columns=len(x), missing=missing)
    done = rows[particles][2]
    r.code(f"chainrule complete zoo:{name} --hide center --particles {particles}")
    r.image(
        "gated-center.png",
        f"the centre hidden: originals, masked, plain sampling (1 candidate: blind to the known pixels below the "
        f"hole), {particles} candidates resampled by their fit (effective sample size min "
        f"{float(done.ess.min()):.1f} / median {float(done.ess.median()):.1f} of {particles})",
        width=448,
    )
    any_order(show, name, particles)


def any_order(show: Show, raster: str, particles: int) -> None:
    """The zoo's LMConv completes hidden regions exactly (an order with every known pixel first), beside the
    raster model's completions with `particles` candidates."""
    entry = zoo.entries()[ANY_ORDER]
    n = show.size(6, 2)
    completion.picture(
        zoo.PREFIX + raster, zoo.PREFIX + ANY_ORDER, str(show.out / "lmconv-completions.png"), n, particles
    )
    r = show.report
    r.paragraph(
        f"Any region, exactly: zoo:{ANY_ORDER} ({entry['test']}) is one network of locally masked convolutions "
        "that generates in any order; for each mask it walks an order with every known pixel first, so a "
        "completion is one ancestral draw from p(hidden | known): no candidates, no weights."
    )
    r.code(f"chainrule complete zoo:{ANY_ORDER} --hide random")
    r.image(
        "lmconv-completions.png",
        f"a hidden centre, top half and random half of the pixels: per block the originals, the masked images, "
        f"LMConv's exact completions, the raster Gated PixelCNN's ({particles} candidates)",
        width=448,
    )


def zoo_text(show: Show) -> None:
    show.step(f"zoo text models: continuing {PROMPT.strip()!r}")
    show.report.heading("3. Text from the zoo: Char-RNN and Transformer on Shakespeare")
    for name in ("char-rnn-shakespeare", "transformer-shakespeare"):
        model = load(zoo.resolve(zoo.PREFIX + name))
        vocabulary = model.vocabulary
        length = show.size(300, 20)
        tokens = generate(model, vocabulary.encode(PROMPT, "the prompt"), length, temperature=0.8, generator=show.gen())
        text = PROMPT + vocabulary.decode(tokens)
        print(f"--- zoo:{name}\n{text}\n---")
        show.report.paragraph(f"zoo:{name} ({zoo.entries()[name]['test']}), {length} characters at temperature 0.8:")
        show.report.code(f'chainrule sample zoo:{name} --prompt "KING HENRY:" --length {length} --temperature 0.8')
        show.report.text_block(text)


def zoo_audio(show: Show) -> None:
    name = "wavenet-speech"
    model = load(zoo.resolve(zoo.PREFIX + name))
    seconds = 0.05 if show.small else 2.0
    show.step(f"zoo:{name}: {seconds:g} s of generated speech")
    rate = model.data_kind.rate
    codes = generate(model, torch.zeros(0, dtype=torch.long), int(seconds * rate), generator=show.gen())
    write_wav(show.out / "wavenet.wav", decode(codes, model.data_kind.encoding), rate)
    r = show.report
    r.heading(f"4. Audio from the zoo (zoo:{name}, {zoo.entries()[name]['test']})")
    r.code(f"chainrule sample zoo:{name} --seconds {seconds:g}")
    r.audio("wavenet.wav", f"{seconds:g} s generated unconditionally at {rate} Hz (mu-law, 256 levels)")


def compression(show: Show) -> None:
    cases = [
        ("gated-pixelcnn-fashion-mnist", show.size(64, 2)),
        ("transformer-shakespeare", show.size(3000, 64)),
        ("wavenet-speech", show.size(8000, 64)),
    ]
    show.step("compressing test data with the zoo models and with classic codecs")
    rows = []
    for name, limit in cases:
        try:
            m = measure(str(zoo.resolve(zoo.PREFIX + name)), limit)
        except DatasetNotFoundError as err:
            show.skip(f"compression with zoo:{name}", err)
            continue
        unit = "bits/char" if "shakespeare" in name else "bits/sample" if "speech" in name else "bits/dim"
        rows.append([m["data"], f"chainrule compress (zoo:{name})", m["coded_bpd"], unit])
        for codec, bpd in m["classic"].items():
            if isinstance(bpd, float):  # a codec whose tool is missing gives its reason instead
                rows.append([m["data"], codec, bpd, unit])
        print(f"{m['data']}: learned coder {m['coded_bpd']:.4f} {unit}, decoded back exactly")
    r = show.report
    r.heading("5. Lossless compression: the learned coder (arithmetic coding) against classic codecs")
    r.paragraph("Every learned file is decoded and compared with its input. Lower is better.")
    r.table(["data", "codec", "size per value", "unit"], rows)


def anomaly(show: Show) -> None:
    name = "gated-pixelcnn-fashion-mnist"
    show.step(f"zoo:{name}: judging Fashion-MNIST test images and MNIST digits (anomaly scores)")
    try:
        inside = load_splits("fashion-mnist")["test"].x[: show.size(6, 2)]
        outside = load_splits("mnist-5k")["test"].x[: show.size(6, 2)]
    except DatasetNotFoundError as err:
        show.skip("the anomaly section (needs Fashion-MNIST)", err)
        return
    model = load(zoo.resolve(zoo.PREFIX + name))
    x = torch.cat([inside, outside])
    bits = scoring.dimension_bits(model, x)
    complexity, likelihood, _ = scoring.scores_and_bits(model, x, "complexity", bpd=scoring.per_input(bits))
    bitmaps.image_map(x, bits, model.levels, show.out / "anomaly.png")
    r = show.report
    r.heading("6. Judging new inputs: anomaly and out-of-distribution scores")
    r.paragraph(
        "A model of clothes gives handwritten digits a higher likelihood (fewer bits per pixel) than clothes: raw "
        "likelihood is a poor judge (Nalisnick et al. 2019). Input complexity subtracts what a PNG encoder needs "
        "for the same image (Serrà et al. 2020): the digits then score as the more unusual. Higher = more unusual."
    )
    r.code(f"chainrule score zoo:{name} images.npy --method complexity --map bits.png")
    r.image("anomaly.png", "each image beside its bits per pixel: Fashion-MNIST test images, then MNIST digits")
    kinds = ["Fashion-MNIST"] * len(inside) + ["MNIST"] * len(outside)
    r.table(
        ["image", "data", "bits/dim (likelihood)", "complexity score"],
        [[i + 1, k, float(a), float(b)] for i, (k, a, b) in enumerate(zip(kinds, likelihood, complexity, strict=True))],
    )
    half = len(inside)
    print(
        f"bits/dim (likelihood): Fashion-MNIST {float(likelihood[:half].mean()):.3f}, MNIST "
        f"{float(likelihood[half:].mean()):.3f}; complexity score: {float(complexity[:half].mean()):.3f} vs "
        f"{float(complexity[half:].mean()):.3f}"
    )


def emoji(show: Show) -> None:
    """Class-conditional emoji from the zoo's VQ-VAE-2 pair (top codes, then bottom codes given them), and test
    emoji beside their reconstructions where the emoji set is installed."""
    top_dir, bottom_dir = (zoo.resolve(zoo.PREFIX + name) for name in (EMOJI_TOP, EMOJI_BOTTOM))
    top, bottom = load(top_dir), load(bottom_dir)
    per_class = show.size(3, 1)
    classes = torch.arange(top.num_classes).repeat_interleave(per_class)
    start = time.perf_counter()
    gen = show.gen()
    top_codes = top.sample(len(classes), cond=classes, generator=gen)
    bottom_codes = bottom.sample(len(classes), cond=Condition(classes=classes, map=top_codes), generator=gen)
    images, levels = codes.decode_samples(bottom_dir, bottom_codes, top_codes)
    seconds = time.perf_counter() - start
    save_grid(images, levels, show.out / "emoji-samples.png", columns=per_class * 3)
    try:
        names = emoji_data.class_names()
    except Exception:  # the Unicode table is not installed: the classes by number
        names = [str(k) for k in range(top.num_classes)]
    r = show.report
    r.paragraph(
        "VQ-VAE-2 on emoji64 (the colour emoji of the installed Noto font): a 64x64 emoji becomes a 16x16 grid of top "
        "codes and a 32x32 grid of bottom codes; a class-conditional PixelSNAIL draws the top grid, a Gated PixelCNN "
        "the bottom grid given the top one and the class, and the decoder paints the image. Three per class, "
        "row by row: " + ", ".join(names) + "."
    )
    r.code(
        "chainrule train --model vqvae --data emoji64 --set hierarchy=2 --set downsample=2 --out runs/vq2\n"
        "chainrule train --model pixelsnail --data codes:runs/vq2 --set num_classes=9 --mirror --out runs/top\n"
        "chainrule train --model gated-pixelcnn --data codes:runs/vq2:bottom --set num_classes=9 --out runs/bottom\n"
        "chainrule sample runs/bottom --top runs/top --class 2 -n 16 -o animals.png"
    )
    r.image("emoji-samples.png", f"{len(classes)} class-conditional samples ({seconds:.1f} s on this machine)", 520)
    try:
        test = load_splits("emoji64")["test"].x[: show.size(8, 2)]
    except DatasetNotFoundError as err:
        show.skip("emoji reconstructions", err)
        return
    vqvae, _ = codes.decoder_of(bottom_dir)
    with torch.no_grad():
        back = vqvae.decode(vqvae.encode(test))
    save_grid(torch.cat([test, back]), levels, show.out / "emoji-reconstructions.png", columns=len(test))
    r.image("emoji-reconstructions.png", "test emoji (top row) and the VQ-VAE-2's reconstructions (bottom)", 520)
    print(f"{len(classes)} class-conditional emoji in {seconds:.1f} s; {len(test)} reconstructions")


def latent(show: Show) -> None:
    show.step(
        f"zoo:{EMOJI_BOTTOM} and zoo:{LATENT_PRIOR}: 64x64 images through a VQ-VAE's codes; zoo:{PIXEL_PHOTOS} beside"
    )
    show.report.heading("7. Larger images through a learned code space: VQ-VAE + an autoregressive prior")
    emoji(show)
    prior_dir = zoo.resolve(zoo.PREFIX + LATENT_PRIOR)
    prior, pixel = load(prior_dir), load(zoo.resolve(zoo.PREFIX + PIXEL_PHOTOS))
    n = show.size(16, 2)
    start = time.perf_counter()
    drawn = prior.sample(n, generator=show.gen())
    images, levels = codes.decode_samples(prior_dir, drawn)
    latent_seconds = time.perf_counter() - start
    save_grid(images, levels, show.out / "latent-samples.png", columns=show.size(8, 2))
    start = time.perf_counter()
    pixels = pixel.sample(show.size(8, 1), generator=show.gen())
    pixel_seconds = time.perf_counter() - start
    save_grid(pixels, pixel.levels, show.out / "pixel-photos.png", columns=show.size(8, 1))
    r = show.report
    r.paragraph(
        "A VQ-VAE turns a 64x64 photograph into a 16x16 grid of codes (512 possible); a Gated PixelCNN over the "
        "codes draws a grid in 256 steps and the decoder paints the image, where a pixel-level model takes "
        "12,288 steps per 64x64 image. Samples of the prior, decoded:"
    )
    r.code(
        "chainrule train --model vqvae --data photos64 --preset cpu --minutes 20 --out runs/vq\n"
        "chainrule train --model gated-pixelcnn --data codes:runs/vq --minutes 20 --out runs/prior\n"
        "chainrule sample runs/prior -n 16 -o samples.png"
    )
    r.image("latent-samples.png", f"{n} decoded 64x64 samples ({latent_seconds:.1f} s on this machine)", width=520)
    r.image(
        "pixel-photos.png",
        f"a pixel-level Gated PixelCNN of 32x32 patches of the same photos ({pixel_seconds:.1f} s for {len(pixels)})",
        width=520,
    )
    print(
        f"{n} latent samples (64x64) in {latent_seconds:.1f} s; "
        f"{len(pixels)} pixel-level (32x32) in {pixel_seconds:.1f} s"
    )


def super_resolution(show: Show) -> None:
    show.step(f"zoo:{UPSCALER}: Fashion-MNIST test images from 7x7 back to 28x28 (super-resolution)")
    try:
        test = load_splits("fashion-mnist", condition="lowres:4")["test"]
    except DatasetNotFoundError as err:
        show.skip("the super-resolution section (needs Fashion-MNIST)", err)
        return
    model, task = load(zoo.resolve(zoo.PREFIX + UPSCALER)), ConditionTask.parse("lowres:4")
    count, per = show.size(6, 1), show.size(3, 1)
    x, maps = test.x[:count], test.maps[:count]
    start = time.perf_counter()
    drawn = model.sample(count * per, cond=Condition(map=maps.repeat_interleave(per, 0)), generator=show.gen())
    seconds = (time.perf_counter() - start) / (count * per)
    source = task.source(x, model.levels)
    rows = []
    for i in range(count):
        small = source[i : i + 1]
        rows += [
            task.shown(small, model.shape, model.levels, "nearest"),
            task.shown(small, model.shape, model.levels, "bicubic"),
        ]
        rows += [drawn[i * per : (i + 1) * per], x[i : i + 1]]
    save_grid(torch.cat(rows), model.levels, show.out / "upscale.png", columns=per + 3)
    r = show.report
    r.heading("8. Super-resolution: 7x7 → 28x28 with a conditional Gated PixelCNN")
    r.paragraph(
        "Each row: the 7x7 input (enlarged), bicubic interpolation, samples of the model given the input, the "
        "original. Samples commit to sharp details that fit the input; bicubic is smooth (and scores higher on "
        "PSNR, which rewards the average of the possible images: BENCHMARKS.md)."
    )
    r.code(
        "chainrule train --model gated-pixelcnn --data fashion-mnist --preset cpu --condition lowres:4 --minutes 20 "
        "--out runs/sr\nchainrule upscale runs/sr small.png -n 3 -o upscaled.png"
    )
    r.image("upscale.png", f"input, bicubic, {per} samples, original ({seconds:.2f} s per sample)", width=420)
    print(f"upscaled {count} images, {per} samples each, {seconds:.2f} s per sample")


def video(show: Show) -> None:
    frames_given = show.size(14, 18)  # 6 frames predicted: seconds, not minutes, on 2 cores
    show.step(f"zoo:{VIDEO}: bouncing-digit test videos continued from their first {frames_given} frames")
    if VIDEO not in zoo.entries():
        show.skip("the video section", FileNotFoundError(f"zoo:{VIDEO} is not in this zoo"))
        return
    directory = zoo.resolve(zoo.PREFIX + VIDEO)
    try:
        test = run_data(directory, "test")
    except DatasetNotFoundError as err:
        show.skip("the video section (needs the MNIST-5k digits)", err)
        return
    model = load(directory)
    count = show.size(2, 1)
    x = test.x[:count]
    known = x.clone()
    known[:, frames_given:] = -1
    start = time.perf_counter()
    done = model.sample(count, known=known, generator=show.gen())
    seconds = (time.perf_counter() - start) / count
    save_video(torch.stack([x, done], dim=1).flatten(0, 1), model.levels, show.out / "video.gif", 2, frames_given)
    entry = zoo.entries()[VIDEO]
    r = show.report
    r.heading("9. Video: a Video Pixel Network continues bouncing digits")
    r.paragraph(
        f"Test videos of unseen digits (moving-mnist: two digits bouncing on 64x64, 20 frames). Left: the truth; "
        f"right: the model's continuation, drawn exactly given the first {frames_given} frames (grey rim) — the "
        f"later frames (red rim) are its own. It learned grey values read as probabilities; its samples are binary. "
        f"Frame prediction on the test set (10 given, 10 predicted): {entry['test']}."
    )
    r.code(
        f"chainrule train --model vpn --data moving-mnist --levels 2 --binarize soft --minutes 60 --out runs/vpn\n"
        f"chainrule eval runs/vpn --given 10 --limit 200\nchainrule complete zoo:{VIDEO} --given {frames_given} "
        f"-n {count} -o predicted.gif"
    )
    r.image("video.gif", f"truth (left) and prediction (right), {seconds:.1f} s per video on this machine", 280)
    print(f"continued {count} videos from {frames_given} frames, {seconds:.1f} s each")


def run(args: argparse.Namespace) -> int:
    show = Show(args)
    parts = (train_made, zoo_images, zoo_text, zoo_audio, compression, anomaly, latent, super_resolution, video)
    for part in parts:
        part(show)
    show.report.heading("Play with the models in the browser")
    show.report.paragraph(
        "chainrule serve opens a local web app over the zoo's models: sample, paint a region and complete it, see "
        "the bits of each pixel or character, continue a prompt, play generated audio, score and compress a file."
    )
    show.report.code(
        "chainrule serve   # then open http://127.0.0.1:7860\nchainrule serve zoo:gated-pixelcnn-fashion-mnist"
    )
    show.report.paragraph(
        f"Made by chainrule demo in {time.perf_counter() - show.start:.0f} s; zoo models: chainrule zoo."
    )
    path = show.report.write(show.out / "report.html")
    print(f"report: {path} (open it in a browser)")
    return 0
