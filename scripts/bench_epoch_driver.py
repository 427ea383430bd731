"""The epoch inside one lax.scan against steps driven from the host (config.epoch_driver).

For each workload, trains the same lanes on synthetic data of its shape
through jaxmem's own `trainer.run`, once with `epoch_driver="scan"` and once
with `"host"`, and reports summary.json's train_s (training, evaluation and
records, compiling excluded) and the ratio. Writes the "epoch_driver" section
of docs/benchmarks.md.

  python scripts/bench_epoch_driver.py     # ~5 minutes on 2 cores
"""

import argparse
import pathlib
import shutil
import sys
import tempfile

import results_lib as lib  # pylint: disable=wrong-import-position
from jaxmem import config as config_lib  # pylint: disable=wrong-import-position
from jaxmem import trainer  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

# name -> (model, image shape, batch, training examples, lanes, epochs)
WORKLOADS = {
    "alexnet_small": ("alexnet_small", (28, 28, 3), 128, 1024, 4, 2),
    "mlp_1x512": ("mlp_1x512", (28, 28, 3), 128, 10_240, 8, 2),
    "lenet1989": ("lenet1989", (16, 16, 1), 1, 1024, 8, 2),
}


def config(model, shape, batch, examples, lanes, epochs, driver):
  c = config_lib.base_config()
  c.dataset = "synthetic"
  c.synthetic.update(dict(num_train=examples, num_test=256, shape=shape))
  c.update(dict(model=model, batch_size=batch, num_seeds=lanes, num_epochs=epochs,
                learning_rate=0.01, momentum=0.9, epoch_driver=driver,
                record_history="off"))
  return c


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workloads", default=",".join(WORKLOADS))
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  lib.setup()
  root = pathlib.Path(tempfile.mkdtemp(prefix="jaxmem_driver_"))
  rows = []
  try:
    for name in args.workloads.split(","):
      if name not in WORKLOADS:
        sys.exit(f"bench_epoch_driver: unknown workload {name!r}; valid: "
                 f"{', '.join(WORKLOADS)}")
      times = {}
      for driver in ("scan", "host"):
        summary = trainer.run(config(*WORKLOADS[name], driver), str(root / f"{name}_{driver}"))
        times[driver] = summary["train_s"]
        print(f"{name:14s} {driver}: {summary['train_s']:.1f} s", flush=True)
      rows.append((name, times["scan"], times["host"]))
  finally:
    shutil.rmtree(root, ignore_errors=True)
  lines = [
      f"Measured on {lib.machine()}: synthetic data of each "
      "model's shape, training time with evaluation and records (summary.json's "
      "train_s, compiling excluded). Command: `python scripts/bench_epoch_driver.py "
      f"{' '.join(sys.argv[1:])}`.", "",
      "| workload | batch | examples x lanes x epochs | scan s | host-driven s | "
      "scan / host (> 1: host wins) |", "|---|---|---|---|---|---|"]
  for name, scan, host in rows:
    _, _, batch, n, lanes, epochs = WORKLOADS[name]
    lines.append(f"| {name} | {batch} | {n:,} x {lanes} x {epochs} | {scan:.1f} | "
                 f"{host:.1f} | {scan / host:.2f}x |")
  lib.publish_section(args.page, "epoch_driver", "python scripts/bench_epoch_driver.py", lines)


if __name__ == "__main__":
  main()
