#!/usr/bin/env bash
# The accelerator check, one command: bash scripts/accelerator_check.sh [--smoke] [--page=PATH]
#
# On the GPU machine (jax with CUDA, flax, optax, orbax, chex, absl, torch; no
# package index, no ml_collections): bring ml_collections' wheel from a machine
# with an index, into the git-ignored wheels/ folder, and carry it along:
#   pip download --no-deps -d wheels ml_collections
# This script installs it and jaxmem without touching the index, then runs
# scripts/accelerator_check.py (under 8 minutes on one GPU), which writes
# docs/benchmarks_gpu.md. With --smoke it runs tiny sizes on any backend.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c "import ml_collections" 2>/dev/null; then
  pip install -q --no-index --no-deps wheels/*.whl
fi
if ! python -c "import jaxmem" 2>/dev/null; then
  pip install -q --no-index --no-deps --no-build-isolation -e .
fi
exec timeout 470 python scripts/accelerator_check.py "$@"
