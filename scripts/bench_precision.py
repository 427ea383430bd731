"""Mixed precision (config.dtype): bfloat16 against float32 on a sweep's own numbers.

Trains --experiment (default: the quickstart, Zhang et al.'s five
randomization tests) through jaxmem's own `jaxmem.train`, once per compute dtype,
with everything else equal, and sets side by side what the sweep reports
(train, clean-train and test accuracy per condition, mean +- std over seeds)
and its cost (compiling and training time from summary.json). Writes the
"precision" section of docs/benchmarks.md.

  python scripts/bench_precision.py     # ~2 minutes on 2 cores
"""

import argparse
import pathlib
import sys
import tempfile

import results_lib as lib  # pylint: disable=wrong-import-position
import jaxmem  # pylint: disable=wrong-import-position
from jaxmem.models import precision  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
METRICS = (("train_acc", "train acc %"), ("train_acc_clean", "clean train acc %"),
           ("test_acc", "test acc %"))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--experiment", default="quickstart")
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  lib.setup()
  summaries = {}
  with tempfile.TemporaryDirectory(prefix="jaxmem_precision_",
                                   ignore_cleanup_errors=True) as root:
    for dtype in precision.DTYPES:
      config = lib.sweep_config(args.experiment, {"dtype": dtype})
      summaries[dtype] = jaxmem.train(config, str(pathlib.Path(root) / dtype))
      print(f"{dtype}: compile {summaries[dtype]['compile_s']:.1f} s, train "
            f"{summaries[dtype]['train_s']:.1f} s", flush=True)
  dtypes = list(precision.DTYPES)
  head = " | ".join(f"{label} {d}" for _, label in METRICS for d in dtypes)
  lines = [
      f"Measured on {lib.machine()}: sweep "
      f"`{args.experiment}` once per `config.dtype`, everything else equal "
      "(parameters, optimizer state, losses and records stay float32 in both). "
      f"Command: `python scripts/bench_precision.py {' '.join(sys.argv[1:])}`.", "",
      f"| point | {head} |", "|---|" + "---|" * (len(METRICS) * len(dtypes))]
  points = {d: s["points"] for d, s in summaries.items()}
  for i, point in enumerate(points[dtypes[0]]):
    name = ", ".join(f"{v}" for v in point["coords"].values()) or "all lanes"
    cells = [lib.pm(points[d][i][key]) for key, _ in METRICS for d in dtypes]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  lines += ["", "| dtype | compile s | train s (training, evaluation, records) | "
            "lane-examples/s |", "|---|---|---|---|"]
  for d in dtypes:
    s = summaries[d]
    lines.append(f"| {d} | {s['compile_s']:.1f} | {s['train_s']:.1f} | "
                 f"{s['lane_examples_per_s']:,.0f} |")
  lib.publish_section(args.page, "precision", "python scripts/bench_precision.py", lines)


if __name__ == "__main__":
  main()
