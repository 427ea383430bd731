"""How LeNet-1989's lanes should run at batch 1: one after another, or vmapped?

Trains lecun1989_usps (the 1989 net on USPS, batch 1, MSE, every measure a
run records) for --epochs epochs with --lanes lanes in several forms, in one
process each, and reports lane-examples per second of the training loop
(summary.json's train_s: steps, per-epoch evaluation, records):

- `map`: lanes one after another on each device (config.lane_chunk=1, what
  the plan chooses on CPU), convolutions as XLA's;
- `vmap K, xla`: K lanes vmapped together, XLA's convolution (under vmap,
  a grouped convolution);
- `vmap K, slices`: K lanes vmapped, each convolution as shifted slices and
  one matmul (jaxmem.models.layers.patch_conv, at any batch size): the lanes
  become the batch dimension of one dot_general;
- `vmap K, gather`: the same with the patches taken by one static gather
  (the form issue 26's sketch measured at 31k lane-steps/s on a simplified
  LeNet without measures).

Only speed is compared here (tests/test_execution.py checks that chunked,
vmapped lanes equal lanes run otherwise). Writes the "lane_forms" section of
docs/benchmarks.md.

  JAXMEM_DATA_DIR=../shared/data python scripts/bench_lane_forms.py   # ~5 min, 2 cores
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import results_lib as lib  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

# One training run in a fresh process: argv = workdir epochs lanes chunk conv.
_CHILD = r"""
import json, sys
import numpy as np
from jaxmem.commands import common
common.setup_process()
import jax.numpy as jnp
import jaxmem
from jaxmem import sweeps
from jaxmem.models import layers
workdir, epochs, lanes, chunk, form = sys.argv[1:]


def gather_conv(lhs, rhs, window_strides, padding, **unused):
  kh, kw, cin, cout = rhs.shape
  (sh, sw), (b, h, w, c) = window_strides, lhs.shape
  oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
  rows = np.arange(oh)[:, None] * sh + np.arange(kh)[None, :]
  cols = np.arange(ow)[:, None] * sw + np.arange(kw)[None, :]
  index = (rows[:, None, :, None] * w + cols[None, :, None, :]).reshape(-1)
  patches = jnp.take(lhs.reshape(b, h * w, c), index, axis=1)
  return (patches.reshape(b, oh * ow, kh * kw * c)
          @ rhs.reshape(kh * kw * cin, cout)).reshape(b, oh, ow, cout)


if form != "xla":
  layers.PATCH_CONV_MIN_BATCH = 1
if form == "gather":
  layers.patch_conv = gather_conv
c = sweeps.load("lecun1989_usps")
c.unlock()
c.num_seeds, c.num_epochs, c.lane_chunk = int(lanes), int(epochs), int(chunk)
c.checkpoint_every_epochs = 0
jaxmem.train(c, workdir)
"""


def run(tmp: str, epochs: int, lanes: int, chunk: int, form: str) -> dict:
  workdir = f"{tmp}/{chunk}_{form}"
  subprocess.run([sys.executable, "-c", _CHILD, workdir, str(epochs), str(lanes),
                  str(chunk), form], check=True, capture_output=True, timeout=1800,
                 env=dict(os.environ, JAXMEM_COMPILE_CACHE="off"))
  summary = json.loads(pathlib.Path(workdir, "summary.json").read_text())
  return dict(train_s=summary["train_s"], compile_s=summary["compile_s"],
              rate=lanes * 7291 * epochs / summary["train_s"])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lanes", type=int, default=64)
  parser.add_argument("--epochs", type=int, default=1)
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  if not os.environ.get("JAXMEM_DATA_DIR"):
    raise SystemExit("set JAXMEM_DATA_DIR (USPS), e.g. JAXMEM_DATA_DIR=../shared/data")
  lib.setup()
  import tempfile  # pylint: disable=g-import-not-at-top
  forms = [("map", 1, "xla"), ("vmap 4, xla", 4, "xla"), ("vmap 32, slices", 32, "slices"),
           ("vmap 32, gather", 32, "gather"), (f"vmap {args.lanes}, gather", args.lanes,
                                               "gather")]
  rows = {}
  with tempfile.TemporaryDirectory() as tmp:
    for name, chunk, form in forms:
      rows[name] = run(tmp, args.epochs, args.lanes, chunk, form)
      print(name, json.dumps({k: round(v, 1) for k, v in rows[name].items()}), flush=True)
  best = max(rows, key=lambda n: rows[n]["rate"])
  base = rows["map"]["rate"]
  command = ("JAXMEM_DATA_DIR=../shared/data python scripts/bench_lane_forms.py "
             + " ".join(sys.argv[1:])).strip()
  lines = [
      "## LeNet-1989's lanes at batch 1: one after another, or vmapped",
      "",
      f"`{command}` on {lib.machine()}: lecun1989_usps, {args.lanes} lanes, "
      f"{args.epochs} epoch(s) on the 7,291 USPS digits at batch 1, with the "
      "per-epoch evaluation of both splits and every record; lane-examples per "
      "second of the training loop (compile excluded).",
      "",
      "| form | lane-examples/s | vs map | compile s |",
      "|---|---|---|---|",
      *[f"| {n} | {r['rate']:,.0f} | {r['rate'] / base:.2f}x | {r['compile_s']:.1f} |"
        for n, r in rows.items()],
      "",
      f"- Fastest: `{best}`. "
      + ("The plan keeps lanes one after another for small convolutions at batch 1 "
         "on CPU: in jaxmem's whole step (records, evaluation, MSE, the H2 "
         "connection table's three convolutions) the vmapped patch forms lose, "
         "though a bare step vmapped in the gather form ran 1.4x the mapped one "
         "(issue 26's sketch)." if best == "map" else
         "A vmapped form wins here: the plan should choose it for this workload."),
  ]
  lib.publish_section(args.page, "lane_forms", "scripts/bench_lane_forms.py", lines)


if __name__ == "__main__":
  main()
