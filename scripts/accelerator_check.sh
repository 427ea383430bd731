#!/usr/bin/env bash
# The accelerator check, one command: bash scripts/accelerator_check.sh [--smoke] [--page=PATH]
#
# On the GPU machine (jax with CUDA, flax, optax, orbax, chex, absl, torch; no
# package index, no ml_collections): bring the wheels of ml_collections and of
# PyYAML (which it imports) from a machine with an index, into the git-ignored
# wheels/ folder, for the GPU machine's Python, and carry it along:
#   pip download --no-deps -d wheels ml_collections pyyaml \
#       --only-binary=:all: --python-version 3.11   # the GPU machine's version
# This script installs it and jaxmem without touching the index, then runs
# scripts/accelerator_check.py (under 8 minutes on one GPU), which writes
# docs/benchmarks_gpu.md. With --smoke it runs tiny sizes on any backend.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import ml_collections" 2>/dev/null; then
  for wheel in wheels/*.whl; do  # A wheel for another Python is skipped.
    pip install -q --no-index --no-deps "$wheel" || echo "skipped $wheel"
  done
  python -c "import ml_collections" 2>/dev/null || {
    echo "accelerator_check: ml_collections is missing; bring its wheels (see the top of $0)"; exit 2; }
fi
if ! python -c "import jaxmem" 2>/dev/null; then
  pip install -q --no-index --no-deps --no-build-isolation -e .
fi
exec timeout 470 python scripts/accelerator_check.py "$@"
