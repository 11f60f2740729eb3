"""Add a finished training run to the model zoo (`chainrule/zoo/NAME/`) and record it in `zoo.json`.

    .venv/bin/python scripts/zoo_add.py NAME RUN_DIR --command "chainrule train ..." [--half]
    .venv/bin/python scripts/zoo_add.py NAME --half          # store an entry's weights as float16, in place

Copies the run's config, weights, run.json and results.json (not its checkpoints or logs), and a prior's copy of
its VQ-VAE (`vqvae/`), and writes the manifest entry: family, data, the command that trained it, training time,
test NLL, parameters and bytes. Refuses to let the zoo grow past 20 MB (every file counted).

--half stores the floating-point weights as float16 (half the bytes; loading casts them back to float32), a
prior's VQ-VAE copy too (its recorded digest then names the stored copy). The model the zoo then holds is the
rounded one, so its test NLL is measured again on the whole test split (codes re-encoded by the stored VQ-VAE) and
that figure recorded (with the trained run's beside it, `test_bpd_float32`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import serialization  # noqa: E402
from chainrule.cli.common import run_data  # noqa: E402
from chainrule.models import codes  # noqa: E402
from chainrule.train.evaluate import evaluate  # noqa: E402
from chainrule.zoo import ZOO_DIR  # noqa: E402

FILES = ("config.json", "model.safetensors", "run.json", "results.json")
DECODER_FILES = ("config.json", "model.safetensors", "grid.json")  # a prior's VQ-VAE copy, in vqvae/


def files_of(directory: Path) -> list[Path]:
    """The files an entry holds (relative): the model's and, for a prior, its VQ-VAE copy's."""
    names = [Path(f) for f in FILES]
    if (directory / codes.DECODER_DIR).is_dir():
        names += [Path(codes.DECODER_DIR) / f for f in DECODER_FILES]
    return names


def entry_bytes(directory: Path) -> int:
    return sum((directory / f).stat().st_size for f in files_of(directory) if (directory / f).is_file())


LIMIT_BYTES = 20 * 10**6


def test_figure(results: dict, data: dict) -> str:
    """The test NLL in the unit of its field: nats per image for binary images, bits per dim for 256-level images,
    bits per character for text, bits per sample for audio, bits per code for VQ-VAE codes."""
    if data.get("levels") == 2:
        return f"{results['test_nats']:.2f} nats/image ({results['test_bpd']:.4f} bits/dim)"
    if str(data.get("name", "")).startswith("codes:"):
        return f"{results['test_bpd']:.3f} bits/code"
    unit = {"shakespeare": "bits/char", "speech": "bits/sample"}.get(data.get("name"), "bits/dim")
    return f"{results['test_bpd']:.3f} {unit}"


def half_weights(weights: Path) -> None:
    tensors = serialization.read_tensors(weights)
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, str(weights))


def halve_decoder(directory: Path) -> None:
    """A prior's VQ-VAE copy as float16, its digest recorded anew where the prior looks for it."""
    folder = directory / codes.DECODER_DIR
    if not (folder / "model.safetensors").is_file():
        return
    tensors = serialization.read_tensors(folder / "model.safetensors")
    if all(v.dtype != torch.float32 for v in tensors.values()):
        return  # already halved
    half_weights(folder / "model.safetensors")
    digest = codes.decoder_digest(folder)
    grid = serialization.read_json(folder / codes.GRID_FILE)
    serialization.write_json(folder / codes.GRID_FILE, {**grid, "digest": digest})
    info = serialization.read_json(directory / "run.json")
    if "decoder" in info.get("data", {}):
        info["data"]["decoder"] = digest
        serialization.write_json(directory / "run.json", info)


def halve(directory: Path) -> dict:
    """Store the weights of the model in `directory` (and of its VQ-VAE copy) as float16, measure its test split
    again, update its results.json; returns the new results."""
    half_weights(directory / "model.safetensors")
    halve_decoder(directory)
    results = serialization.read_json(directory / "results.json")
    figures = evaluate(cr.load(directory), run_data(str(directory), "test"), progress=True)
    if "test_bpd_float32" not in results:
        results["test_bpd_float32"] = results["test_bpd"]
    results.update(test_bpd=figures["bpd"], test_nats=figures["nats"], weights="float16")
    serialization.write_json(directory / "results.json", results)
    before = results["test_bpd_float32"]
    print(f"{directory.name}: float16 weights, test {figures['bpd']:.5f} bits/dim (float32: {before:.5f})")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("run", type=Path, nargs="?", help="the run to add (none: convert the entry NAME with --half)")
    parser.add_argument("--command", help="the command that trained the run")
    parser.add_argument("--half", action="store_true", help="store the weights as float16 (see above)")
    args = parser.parse_args()
    manifest_path = ZOO_DIR / "zoo.json"
    if args.run is None:
        manifest = serialization.read_json(manifest_path)
        if not args.half or args.name not in manifest:
            print("zoo_add: give RUN (and --command) to add a run, or --half to convert an existing entry")
            return 1
        results = halve(ZOO_DIR / args.name)
        entry = manifest[args.name]
        data = serialization.read_json(ZOO_DIR / args.name / "run.json")["data"]
        entry.update(
            test=test_figure(results, data),
            test_bpd=results["test_bpd"],
            bytes=entry_bytes(ZOO_DIR / args.name),
            weights="float16",
        )
        serialization.write_json(manifest_path, dict(sorted(manifest.items())))
        return 0
    if not args.command:
        print("zoo_add: --command (the command that trained the run) is required")
        return 1

    run = serialization.read_json(args.run / "run.json")
    results = serialization.read_json(args.run / "results.json")
    manifest_path = ZOO_DIR / "zoo.json"
    manifest = serialization.read_json(manifest_path)
    target = ZOO_DIR / args.name
    others = sum(f.stat().st_size for f in ZOO_DIR.rglob("*") if f.is_file() and target not in f.parents)
    size = entry_bytes(args.run) // (2 if args.half else 1)
    if others + size > LIMIT_BYTES:
        print(f"zoo_add: the zoo would hold {(others + size) / 1e6:.1f} MB, over {LIMIT_BYTES / 1e6:.0f} MB")
        return 1
    target.mkdir(exist_ok=True)
    for f in files_of(args.run):
        (target / f).parent.mkdir(exist_ok=True)
        shutil.copyfile(args.run / f, target / f)
    results = halve(target) if args.half else results
    size = entry_bytes(target)
    manifest[args.name] = {
        "family": run["model"]["model"],
        "data": results["data"],
        "command": args.command,
        "train_seconds": results["train_seconds"],
        "steps": results["steps"],
        "test": test_figure(results, run["data"]),
        "test_bpd": results["test_bpd"],
        "parameters": results["parameters"],
        "bytes": size,
        **({"weights": "float16"} if args.half else {}),
    }
    serialization.write_json(manifest_path, dict(sorted(manifest.items())))
    print(f"zoo:{args.name} added ({size / 1e6:.2f} MB; the zoo now holds {(others + size) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
