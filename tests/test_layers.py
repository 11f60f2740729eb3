"""STYLE.md's layering: nothing imports upward. Parsed from the source, not run."""

import ast
from pathlib import Path

import chainrule

LAYERS = [
    {"errors", "config", "orders", "registry", "serialization", "version", "zoo"},
    {"nn", "distributions", "sampling", "data", "media"},
    {"models"},
    {"coding", "train"},
    {"cli", "bench"},
]
ROOT = Path(chainrule.__file__).parent


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "chainrule" or len(parts) < 2:
        return None
    for depth, names in enumerate(LAYERS):
        if parts[1] in names:
            return depth
    return None


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "chainrule"]
    return found


def test_no_module_imports_a_higher_layer():
    checked = 0
    for path in ROOT.rglob("*.py"):
        own = layer_of("chainrule." + ".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own is None:
            continue
        for target in imports(path):
            other = layer_of(target)
            assert other is None or other <= own, f"{path.relative_to(ROOT)} imports {target}"
        checked += 1
    assert checked > 20


def test_train_and_sampling_import_no_concrete_model():
    for folder in ("train", "sampling", "data", "distributions"):
        for path in (ROOT / folder).rglob("*.py"):
            for target in imports(path):
                contract = ("chainrule.models.base", "chainrule.models.trainable")  # the contracts, no model
                assert not target.startswith("chainrule.models.") or target in contract, (
                    f"{path.relative_to(ROOT)} imports {target}"
                )
