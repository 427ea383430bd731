"""Input-corruption lanes against clean lanes, with the corrupted inputs cached or not.

Trains the same lanes (--experiment's model and data, one condition at a time,
--seeds seeds) through jaxmem's own `jaxmem.train`, once per condition and
`config.cache_inputs` setting, and compares training time (summary.json's
train_s: training, evaluation and records, compiling excluded) with the clean
lanes' (true_labels). Issue 16's target: input-corruption lanes within 1.2x of
clean ones. Writes the "corruption" section of docs/benchmarks.md.

  JAXMEM_DATA_DIR=../shared/data python scripts/bench_corruption.py   # ~6 min
"""

import argparse
import pathlib
import shutil
import sys
import tempfile

import results_lib as lib  # pylint: disable=wrong-import-position
import jaxmem  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
CONDITIONS = ("true_labels", "shuffled_pixels", "random_pixels", "gaussian")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--experiment", default="zhang_usps")
  parser.add_argument("--seeds", type=int, default=4)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  lib.setup()
  root = pathlib.Path(tempfile.mkdtemp(prefix="jaxmem_corruption_"))
  times = {}
  try:
    for condition in CONDITIONS:
      for cache in (("off",) if condition == "true_labels" else ("off", "on")):
        config = lib.sweep_config(args.experiment, {
            "grid.condition": (condition,), "num_seeds": args.seeds,
            "num_epochs": args.epochs, "cache_inputs": cache})
        for key in ("label_corruption", "weight_decay", "learning_rate"):
          if key in config.grid and config.grid[key]:
            config.grid[key] = config.grid[key][:1]
        summary = jaxmem.train(config, str(root / f"{condition}_{cache}"))
        times[condition, cache] = summary["train_s"]
        print(f"{condition:16s} cache {cache:3s}: {summary['train_s']:.1f} s", flush=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  clean = times["true_labels", "off"]
  lines = [
      f"Measured on {lib.machine()}: sweep "
      f"`{args.experiment}`, one condition at a time, {args.seeds} seeds, {args.epochs} "
      "epochs; training time with evaluation and records (summary.json's train_s, "
      "compiling excluded). Command: `JAXMEM_DATA_DIR=../shared/data python "
      f"scripts/bench_corruption.py {' '.join(sys.argv[1:])}`.", "",
      "| condition | regenerated at each step s | cached once s | regenerated / clean | "
      "cached / clean (target <= 1.2x) |", "|---|---|---|---|---|",
      f"| true_labels (clean) | {clean:.1f} | - | 1.00x | - |"]
  for condition in CONDITIONS[1:]:
    off, on = times[condition, "off"], times[condition, "on"]
    lines.append(f"| {condition} | {off:.1f} | {on:.1f} | {off / clean:.2f}x | "
                 f"{on / clean:.2f}x ({'met' if on / clean <= 1.2 else 'missed'}) |")
  lib.publish_section(args.page, "corruption", "python scripts/bench_corruption.py", lines)


if __name__ == "__main__":
  main()
