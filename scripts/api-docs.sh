#!/usr/bin/env bash
# Writes the API reference, generated from the docstrings with pdoc, to docs/api/ (HTML, not committed).
# Run after setup.sh: bash scripts/api-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
"$PY" -m pip install -q "pdoc>=14"
# every module by name: packages that define __all__ would otherwise hide their submodules
MODULES=$(find chainrule -name "*.py" ! -name "__main__.py" | sed -e 's|/__init__.py$||' -e 's|\.py$||' -e 's|/|.|g' | sort)
"$PY" -m pdoc $MODULES -o docs/api --docformat google 2> >(grep -v "has already been added" >&2)
echo "API reference: docs/api/index.html"
