"""Influence at CIFAR-10's scale: time and peak memory of the streamed estimate.

Feldman & Zhang's train -> test influence (jaxmem.analysis.influence.top_pairs)
for 1,024 hold-out lanes x 50,000 training x 10,000 test examples, on
synthetic masks (each lane trains on a random 70%) and outcomes (each lane
right on a random 90% of the test examples): the top 1,000 pairs and their
standard errors, without the dense 500M-entry matrix. Writes the "influence"
section of docs/benchmarks.md.

  python scripts/bench_influence.py          # about 3 minutes on 2 cores
"""

import argparse
import pathlib
import resource
import sys
import time

import numpy as np

import results_lib as lib  # pylint: disable=wrong-import-position
from jaxmem.analysis import influence  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lanes", type=int, default=1024)
  parser.add_argument("--train", type=int, default=50_000)
  parser.add_argument("--test", type=int, default=10_000)
  parser.add_argument("--k", type=int, default=1000)
  parser.add_argument("--chunk", type=int, default=4096)
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  in_subset = rng.random((args.lanes, args.train), np.float32) < 0.7
  correct = (rng.random((args.lanes, args.test), np.float32) < 0.9).astype(np.float32)
  inputs_mb = (in_subset.nbytes + correct.nbytes) / 2**20
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
  start = time.perf_counter()
  pairs = influence.top_pairs(in_subset, correct, k=args.k, train_chunk=args.chunk,
                              test_chunk=args.chunk)
  seconds = time.perf_counter() - start
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
  dense_gb = args.train * args.test * 8 * 2 / 2**30
  command = "python scripts/bench_influence.py " + " ".join(sys.argv[1:])
  lines = [
      "## Influence from hold-out lanes at CIFAR-10's scale", "",
      f"`{command.strip()}` on {lib.machine()}: Feldman & Zhang's train -> test "
      f"influence (`jaxmem.analysis.influence.top_pairs`) of {args.train:,} training "
      f"on {args.test:,} test examples from {args.lanes:,} lanes (synthetic: each "
      "lane trains on a random 70% and is right on a random 90% of the test "
      f"examples), keeping the top {args.k:,} pairs with their standard errors, in "
      f"blocks of {args.chunk:,} x {args.chunk:,}.", "",
      f"- {seconds:.0f} s ({args.lanes * args.train * args.test / seconds / 1e9:.1f}G "
      "lane x train x test terms per second): two matrix products per block, the "
      "masks against the outcomes and their squares (float64), and a top-k "
      "selection per block.",
      f"- Peak resident memory of the whole process: {peak / 2**10:.2f} GB, of which "
      f"{before / 2**10:.2f} GB before the estimate (Python, NumPy and the inputs: "
      f"{inputs_mb:,.0f} MB of masks and outcomes). The dense influence and "
      f"standard-error matrices would take {dense_gb:,.1f} GB in float64; the "
      "estimate holds one block's (and the k best pairs) at a time.",
      f"- The largest influence found: {pairs.influence[0]:.3f} ± {pairs.se[0]:.3f} "
      "(on random data every influence is noise: the standard error says so).",
  ]
  lib.publish_section(args.page, "influence", "scripts/bench_influence.py", lines)


if __name__ == "__main__":
  main()
