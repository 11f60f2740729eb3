#!/usr/bin/env bash
# Writes the API reference, generated from the docstrings with pdoc, to docs/api/ (HTML, not committed).
# Run after setup.sh: bash scripts/api-docs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
"$PY" -m pip install -q "pdoc>=14"
"$PY" -m pdoc chainrule -o docs/api --docformat google
echo "API reference: docs/api/index.html"
