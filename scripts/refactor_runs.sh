#!/usr/bin/env bash
# The fixed set of runs that a refactor must leave unchanged: train them with
# the jaxmem of one checkout, then with another's, and compare the two folders
# with scripts/same_results.py.
#
#   bash scripts/refactor_runs.sh /path/to/old/checkout runs/before
#   bash scripts/refactor_runs.sh .                     runs/after
#   python scripts/same_results.py --pairs runs/before runs/after
#
# The runs: quickstart; zhang_usps for 3 epochs; difficulty_usps with 8 seeds;
# quickstart for 10 epochs over 2 processes (gloo on localhost); quickstart for
# 20 epochs stopped by SIGTERM after epoch 7, then resumed. About 8 minutes on
# 2 CPU cores. Data: $JAXMEM_DATA_DIR (default ../shared/data).
set -euo pipefail
root=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export JAXMEM_DATA_DIR="${JAXMEM_DATA_DIR:-$root/../shared/data}"
export JAXMEM_OFFLINE=1
run() { python -m jaxmem "$@" > /dev/null 2>> "$out/log.txt"; }

run --experiment=quickstart --workdir="$out/quickstart"
run --experiment=zhang_usps --config.num_epochs=3 --workdir="$out/zhang_usps_3"
run --experiment=difficulty_usps --config.num_seeds=8 --workdir="$out/difficulty_usps_8"

port=$(python -c 'import socket; s = socket.socket(); s.bind(("localhost", 0)); print(s.getsockname()[1])')
pids=()
for i in 0 1; do
  JAXMEM_CPU_DEVICES=1 timeout 900 python -m jaxmem --experiment=quickstart \
      --config.num_epochs=10 --coordinator_address="localhost:$port" \
      --num_processes=2 --process_id=$i --workdir="$out/two_processes" \
      > /dev/null 2>> "$out/log.txt" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done

resumed="$out/resumed"
timeout 900 python -m jaxmem --experiment=quickstart --config.num_epochs=20 \
    --workdir="$resumed" > /dev/null 2>> "$out/log.txt" &
pid=$!
until [ -f "$resumed/status.json" ] && \
    python -c "import json,sys; sys.exit(json.load(open('$resumed/status.json'))['epoch'] < 7)" \
    2> /dev/null; do
  sleep 0.2
done
kill -TERM "$pid"
wait "$pid" || true  # 143: preempted, with a checkpoint.
run --experiment=quickstart --config.num_epochs=20 --workdir="$resumed"
grep -o "resuming .* from the checkpoint of epoch [0-9]*" "$out/log.txt" | tail -1
echo "runs in $out"
