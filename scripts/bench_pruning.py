"""Pruning at several kept fractions: one program per fraction, or one masked program?

A lane's subset size is a shape of the compiled program, so sweep
pruning_usps trains each kept fraction as a run of its own. The alternative
is one program for every fraction, each lane stepping through the largest
fraction's steps with its updates masked past its own subset. Its cost is at
least that of the largest fraction's program with every fraction's lanes:
the masked steps compute as much as real ones. So this times, as a user waits
for them, whole commands:

- `separate`: pruning_usps at each fraction in --fractions, one after another
  (80 lanes each: 10 rules x 8 seeds);
- `masked (lower bound)`: one command at the largest fraction with the lanes
  of every fraction (4 x 80 lanes), which a masked program could only match.

The scores (a random score per USPS training digit, in its official ids;
the time does not depend on them) go to a temporary npz. Each figure is the
median of --rounds rounds, the two in turn within a round. Writes the
"pruning" section of docs/benchmarks.md.

  JAXMEM_DATA_DIR=../shared/data python scripts/bench_pruning.py   # ~8 min, 2 cores
"""

import argparse
import json
import pathlib
import statistics
import tempfile

import numpy as np

import results_lib as lib  # pylint: disable=wrong-import-position
from jaxmem import datasets  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SWEEP = "pruning_usps"


def run_once(workdir: str, fraction: float, seeds: int, scores: str, epochs: int) -> dict:
  """One whole command; its wall time and summary.json's timings."""
  return lib.timed_command(
      [f"--experiment={SWEEP}", f"--config.pruning.fraction={fraction}",
       f"--config.pruning.scores={scores}", f"--config.num_seeds={seeds}",
       f"--config.num_epochs={epochs}", f"--config.eval_every_epochs={epochs}"], workdir)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--fractions", default="0.1,0.3,0.5,0.7")
  parser.add_argument("--epochs", type=int, default=15)
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  command = lib.real_data_command("USPS")
  lib.setup()
  fractions = [float(f) for f in args.fractions.split(",")]
  seeds = lib.sweep_config(SWEEP).num_seeds
  rules = len(lib.sweep_config(SWEEP).grid.prune)
  index = datasets.load("usps").train.index
  times = {"separate": [], "masked (lower bound)": []}
  with tempfile.TemporaryDirectory() as tmp:
    scores = f"{tmp}/scores.npz"
    rng = np.random.default_rng(0)
    np.savez(scores, index=index, **{c: rng.random(len(index)) for c in (
        "el2n_e2_mean", "forgetting_mean", "aum_mean")})
    for r in range(args.rounds):
      parts = [run_once(f"{tmp}/{r}_{f}", f, seeds, scores, args.epochs) for f in fractions]
      times["separate"].append({k: sum(p[k] for p in parts) for k in parts[0]})
      times["masked (lower bound)"].append(run_once(
          f"{tmp}/{r}_masked", max(fractions), seeds * len(fractions), scores, args.epochs))
      print(f"round {r + 1}/{args.rounds}: " + json.dumps(
          {n: {k: round(v, 1) for k, v in t[-1].items()} for n, t in times.items()}),
            flush=True)
  median = {n: {k: statistics.median(t[k] for t in ts) for k in ts[0]}
            for n, ts in times.items()}
  sep, masked = median["separate"], median["masked (lower bound)"]
  rows = [f"| {n} | {m['wall_s']:.1f} | {m['compile_s']:.1f} | {m['train_s']:.1f} |"
          for n, m in median.items()]
  kept = sum(fractions) / (max(fractions) * len(fractions))
  lines = [
      "## Pruning: one program per kept fraction",
      "",
      f"`{command}` on {lib.machine()}: sweep `{SWEEP}` (MLP 1x512 on USPS, batch 64, "
      f"{args.epochs} epochs, evaluated at the end), {rules} rules x {seeds} seeds per "
      f"fraction, fractions {', '.join(f'{f:g}' for f in fractions)}; whole commands, "
      f"median of {args.rounds} rounds.",
      "",
      "| form | wall s | compile s | train s |",
      "|---|---|---|---|",
      *rows,
      "",
      f"- One program per fraction: {sep['wall_s']:.1f} s for the {len(fractions)} "
      f"commands, start-up and compiling included. A masked program steps every lane "
      f"through the largest fraction's steps, {1 / kept:.2f}x the examples of the "
      f"separate programs; its lower bound alone (the largest fraction with every "
      f"fraction's lanes, no masking cost counted) takes {masked['wall_s']:.1f} s, "
      f"{masked['wall_s'] / sep['wall_s']:.2f}x. "
      + ("So the sweep keeps a program per fraction, pooled by `jaxmem report` and "
         "`jaxmem.analysis.pruning.curves`." if masked["wall_s"] >= sep["wall_s"] else
         "A masked program could win here: its lower bound is below the separate "
         "programs."),
  ]
  lib.publish_section(args.page, "pruning", "scripts/bench_pruning.py", lines)


if __name__ == "__main__":
  main()
