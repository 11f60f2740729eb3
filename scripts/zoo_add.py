"""Add a finished training run to the model zoo (`chainrule/zoo/NAME/`) and record it in `zoo.json`.

    .venv/bin/python scripts/zoo_add.py NAME RUN_DIR --command "chainrule train ..."

Copies the run's config, weights, run.json and results.json (not its checkpoints or logs) and writes the manifest
entry: family, data, the command that trained it, training time, test NLL, parameters and bytes. Refuses to let
the zoo grow past 20 MB.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chainrule import serialization  # noqa: E402
from chainrule.zoo import ZOO_DIR  # noqa: E402

FILES = ("config.json", "model.safetensors", "run.json", "results.json")
LIMIT_BYTES = 20 * 10**6


def test_figure(results: dict, data: dict) -> str:
    """The test NLL in the unit of its field: nats per image for binary images, bits per dim for 256-level images,
    bits per character for text, bits per sample for audio."""
    if data.get("levels") == 2:
        return f"{results['test_nats']:.2f} nats/image ({results['test_bpd']:.4f} bits/dim)"
    unit = {"shakespeare": "bits/char", "speech": "bits/sample"}.get(data.get("name"), "bits/dim")
    return f"{results['test_bpd']:.3f} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("run", type=Path)
    parser.add_argument("--command", required=True, help="the command that trained the run")
    args = parser.parse_args()

    run = serialization.read_json(args.run / "run.json")
    results = serialization.read_json(args.run / "results.json")
    manifest_path = ZOO_DIR / "zoo.json"
    manifest = serialization.read_json(manifest_path)
    target = ZOO_DIR / args.name
    others = sum(f.stat().st_size for f in ZOO_DIR.glob("*/*") if f.parent != target)
    size = sum((args.run / f).stat().st_size for f in FILES)
    if others + size > LIMIT_BYTES:
        print(f"zoo_add: the zoo would hold {(others + size) / 1e6:.1f} MB, over {LIMIT_BYTES / 1e6:.0f} MB")
        return 1
    target.mkdir(exist_ok=True)
    for f in FILES:
        shutil.copyfile(args.run / f, target / f)
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
    }
    serialization.write_json(manifest_path, dict(sorted(manifest.items())))
    print(f"zoo:{args.name} added ({size / 1e6:.2f} MB; the zoo now holds {(others + size) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
