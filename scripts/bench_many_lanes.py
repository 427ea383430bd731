"""More lanes than a sweep usually has: 1,024 LeNet 1989 lanes on USPS, one run.

Trains sweep lecun1989_usps with --lanes seeds for --epochs epochs into a
temporary workdir through jaxmem's own `jaxmem.train` (the plan, the device per
core, the evaluation and the records included), and writes the wall time, the
lane-examples per second and the process's peak resident memory to OUT.json,
which scripts/bench_vs_torch.py's page cites.

  python scripts/bench_many_lanes.py --out=docs/many_lanes   # ~10 min on 2 cores
"""

import argparse
import json
import pathlib
import resource
import sys
import tempfile
import time

import results_lib as lib  # pylint: disable=wrong-import-position
import jaxmem  # pylint: disable=wrong-import-position


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lanes", type=int, default=1024)
  parser.add_argument("--epochs", type=int, default=1)
  parser.add_argument("--out", default="docs/many_lanes")
  parser.add_argument("--data_dir", default=None)
  args = parser.parse_args()
  lib.setup()
  config = lib.sweep_config("lecun1989_usps", {"num_seeds": args.lanes,
                                               "num_epochs": args.epochs})
  with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    summary = jaxmem.train(config, tmp + "/run", args.data_dir)
    wall = time.perf_counter() - start
    execution = json.loads(pathlib.Path(tmp, "run", "config.json").read_text())["execution"]
  result = dict(
      command="python scripts/bench_many_lanes.py " + " ".join(sys.argv[1:]),
      date=time.strftime("%Y-%m-%d"), machine=lib.machine(), lanes=args.lanes,
      epochs=args.epochs, wall_s=round(wall, 1), train_s=summary["train_s"],
      compile_s=summary["compile_s"],
      lane_examples_per_s=summary["lane_examples_per_s"],
      peak_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
      diverged_lanes=summary["diverged_lanes"], execution=execution,
      test_acc_mean=summary["points"][0]["test_acc"]["mean"])
  print(json.dumps(result, indent=1))
  pathlib.Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
  main()
