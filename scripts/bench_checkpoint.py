"""Measures what checkpointing costs per epoch, for an experiment's real lanes.

Runs the experiment twice for a few epochs, once saving a checkpoint every
epoch and once only at the end, and reports the training time per epoch of
each, their difference, and the time training blocked on saves (summary.json's
checkpoint_s). Run one at a time: on 2 cores the background saves compete with
training, which is part of the cost.

  JAXMEM_DATA_DIR=../shared/data python scripts/bench_checkpoint.py \
      --experiment=zhang_corruption_usps --epochs=6
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile


def _run(experiment: str, epochs: int, every: int, workdir: str) -> dict:
  subprocess.run([sys.executable, "-m", "jaxmem", f"--experiment={experiment}",
                  f"--workdir={workdir}", f"--config.num_epochs={epochs}",
                  f"--config.checkpoint_every_epochs={every}", "--overwrite"],
                 check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  with open(os.path.join(workdir, "summary.json")) as f:
    return json.load(f)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--experiment", default="zhang_corruption_usps")
  parser.add_argument("--epochs", type=int, default=6)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    runs = {every: _run(args.experiment, args.epochs, every, os.path.join(tmp, str(every)))
            for every in (0, 1)}
  lanes = len(runs[0]["lanes"])
  per_epoch = {e: r["train_s"] / args.epochs for e, r in runs.items()}
  result = dict(
      experiment=args.experiment, lanes=lanes, epochs=args.epochs,
      seconds_per_epoch_checkpoint_at_end_only=round(per_epoch[0], 3),
      seconds_per_epoch_checkpoint_every_epoch=round(per_epoch[1], 3),
      added_per_checkpoint_s=round((runs[1]["train_s"] - runs[0]["train_s"])
                                   / (args.epochs - 1), 3),
      blocked_on_saves_per_checkpoint_s=round(runs[1]["checkpoint_s"] / args.epochs, 3))
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
