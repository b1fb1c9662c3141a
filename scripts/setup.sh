#!/usr/bin/env bash
# Install LabelFree and everything it needs on a fresh Debian/Ubuntu machine (run as root), into a
# virtual environment .venv/ of this checkout, then run the demo on the bundled sample data.
# Pass --no-demo to skip the demo. Works with the system's python3 too, where `pip install` into the
# system is refused (PEP 668) and pip may be missing: everything goes into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Java (JDK: javac builds the small ImageJ command shim) + ImageJ 1.x (ij.jar) for the Fiji bridge;
# Xvfb so the ROI Manager and image windows work without a screen.
apt-get install -y -qq --no-install-recommends default-jdk libij-java xvfb xauth >/dev/null
# A Python 3 that can make virtual environments (Debian splits venv/ensurepip into python3-venv).
if ! command -v python3 >/dev/null || ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
PY=.venv/bin/python
"$PY" -m pip --version >/dev/null 2>&1 || "$PY" -m ensurepip --upgrade >/dev/null
# The one pin of the project: torch's CPU build. From PyPI, torch on Linux is the multi-GB CUDA
# build, so PyTorch's CPU wheel index is searched too (its 2.13.0+cpu outranks PyPI's 2.13.0). Where
# that index cannot be reached, pip warns and takes torch from the other indexes. For a CUDA build
# set LABELFREE_TORCH_INDEX to its index (e.g. https://download.pytorch.org/whl/cu126), or to
# "none" to use only pip's configured indexes.
TORCH_INDEX="${LABELFREE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
TORCH_ARGS=()
if [[ "$TORCH_INDEX" != "none" ]]; then
  TORCH_ARGS=(--extra-index-url "$TORCH_INDEX" --retries 1 --timeout 30)
fi
"$PY" -m pip install --quiet "${TORCH_ARGS[@]}" "torch==2.13.0"
"$PY" -m pip install --quiet -e ".[dev]"

if [[ "${1:-}" != "--no-demo" ]]; then
  "$PY" -m labelfree demo --out labelfree-demo
fi
