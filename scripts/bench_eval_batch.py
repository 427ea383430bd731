"""How large an evaluation chunk should be (config.eval_batch_size).

Evaluating a split runs its examples through the model in chunks of
eval_batch_size, one after another (`steps.evaluate`, a lax.map); on CPU,
lanes vmapped together share a chunk (`execution.eval_chunk`). The chunk
changes speed and memory, never results. For each workload this times the
evaluation of a training split of synthetic data of the workload's shape, by
one lane, or by 8 lanes vmapped as the CPU plan runs LeNet 1989 at batch 1,
at several chunk sizes (median of 3 after a warm-up, compiling excluded), and
writes the "eval_batch" section of docs/benchmarks.md.

  python scripts/bench_eval_batch.py     # ~2 minutes on 2 cores
"""

import argparse
import dataclasses
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("JAXMEM_CPU_DEVICES", "1")  # One lane on one device.
import jax  # pylint: disable=wrong-import-position

import results_lib as lib  # pylint: disable=wrong-import-position
from jaxmem import config as config_lib  # pylint: disable=wrong-import-position
from jaxmem import run as run_lib  # pylint: disable=wrong-import-position
from jaxmem import steps  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
# name -> (model, image shape, training examples, lanes vmapped together)
WORKLOADS = {
    "lenet1989": ("lenet1989", (16, 16, 1), 7291, 1),
    "lenet1989_8_lanes": ("lenet1989", (16, 16, 1), 7291, 8),
    "mlp_1x512": ("mlp_1x512", (28, 28, 3), 8192, 1),
    "alexnet_small": ("alexnet_small", (28, 28, 3), 2048, 1),
}
SIZES = (64, 128, 256, 512, 1024, 2048)


def time_sizes(model: str, shape, examples: int, lanes: int) -> list[float]:
  """Seconds for `lanes` lanes vmapped together to evaluate `examples`
  training examples each, for each chunk of SIZES shared among them (one run
  built; only the chunk changes between timings)."""
  c = config_lib.base_config()
  c.dataset = "synthetic"
  c.synthetic.update(dict(num_train=examples, num_test=64, shape=shape))
  c.update(dict(model=model, num_seeds=lanes, batch_size=64))
  the_run = run_lib.Run.build(c)
  lane, state = the_run.constants, the_run.state.train
  out = []
  for size in SIZES:
    task = dataclasses.replace(the_run.task, eval_chunk=max(1, size // lanes))
    fn = jax.jit(jax.vmap(lambda d, l, s, task=task: steps.evaluate(task, d, l, s, "train"),
                          in_axes=(None, 0, 0)))
    jax.block_until_ready(fn(the_run.data, lane, state))
    times = []
    for _ in range(3):
      start = time.perf_counter()
      jax.block_until_ready(fn(the_run.data, lane, state))
      times.append(time.perf_counter() - start)
    out.append(statistics.median(times))
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workloads", default=",".join(WORKLOADS))
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  names = args.workloads.split(",")
  for name in names:
    if name not in WORKLOADS:
      sys.exit(f"bench_eval_batch: unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
  lib.setup()
  rows = {}
  for name in names:
    rows[name] = time_sizes(*WORKLOADS[name])
    print(name, " ".join(f"{s}: {t * 1e3:.0f} ms" for s, t in zip(SIZES, rows[name])),
          flush=True)
  default = config_lib.base_config().eval_batch_size
  lines = [
      f"Measured on {lib.machine()}: lanes evaluating a training split of "
      "synthetic data, ms (median of 3); a chunk is the examples evaluated at "
      "once, shared by the lanes vmapped together. The default chunk is "
      f"{default}. Command: `python scripts/bench_eval_batch.py "
      f"{' '.join(sys.argv[1:])}`.", "",
      "| workload | lanes | examples | " + " | ".join(f"chunk {s}" for s in SIZES)
      + " | fastest |", "|---|---|---|" + "---|" * (len(SIZES) + 1)]
  for name, times in rows.items():
    best = SIZES[times.index(min(times))]
    lines.append(f"| {name} | {WORKLOADS[name][3]} | {WORKLOADS[name][2]:,} | "
                 + " | ".join(f"{t * 1e3:.0f}" for t in times) + f" | {best} |")
  lib.publish_section(args.page, "eval_batch", "python scripts/bench_eval_batch.py", lines)


if __name__ == "__main__":
  main()
