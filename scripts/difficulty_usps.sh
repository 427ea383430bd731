#!/usr/bin/env bash
# The per-example difficulty study through the commands a user types:
# difficulty_usps at subset ratios 0.25, 0.5 and 0.75 (32 lanes each), then one
# report pooling the 96 lanes. Prints each step's wall time. The numbers the
# README quotes come from the same sweeps through scripts/results_difficulty.py
# (docs/results/difficulty_usps.md), which also measures what changed.
#
#   bash scripts/difficulty_usps.sh [OUT]      # default OUT=runs/difficulty_usps
set -euo pipefail
out="${1:-runs/difficulty_usps}"
for ratio in 0.25 0.5 0.75; do
  start=$(date +%s.%N)
  jaxmem --experiment=difficulty_usps --config.subset_ratio="$ratio" \
      --workdir="$out/ratio_$ratio" --overwrite
  echo "ratio $ratio: $(echo "$(date +%s.%N) - $start" | bc) s wall"
done
start=$(date +%s.%N)
jaxmem report --workdir="$out/ratio_0.25" --workdir="$out/ratio_0.5" \
    --workdir="$out/ratio_0.75" --out="$out/report"
echo "report (analysis included): $(echo "$(date +%s.%N) - $start" | bc) s wall"
cat "$out/report/usps_pooled_analysis/correlations.json"
