"""Pruning curves: test accuracy against the fraction of the training set kept.

A pruning sweep trains one workdir per kept fraction (the subsets' size is a
shape of the compiled program), its lanes the pruning rules x seeds
(config.prune, a grid axis: jaxmem.datasets.pruning). `curves` pools such
workdirs, and unpruned ones as the full-data reference: per rule and
fraction, the final test accuracy over the seeds that finished (mean, std
with ddof 1, standard error), and the accuracy on the examples pruned away
(`holdout_acc`: what the kept subset says about the rest), from each
workdir's summary.json.
"""

import collections
import math

import numpy as np

from jaxmem import errors
from jaxmem.workdir import files

FULL = "none"  # The rule of unpruned lanes: every training example kept.


def lanes(paths: list[str]) -> list[dict]:
  """Every finished lane of `paths`: workdir, data set, rule, fraction, seed, test_acc,
  holdout_acc (NaN where nothing was pruned) and whether it diverged."""
  found = []
  for path in paths:
    wd = files.Workdir(path).require_done()
    described, summary = wd.read_json("config.json"), wd.read_json("summary.json")
    resolved = {l["lane"]: l["resolved"] for l in described["lanes"]}
    fraction = described["config"]["pruning"]["fraction"] if "pruning" in described else 1.0
    for lane in summary["lanes"]:
      nan = lambda v: math.nan if v is None else float(v)
      found.append(dict(workdir=str(path), dataset=described["dataset"]["name"],
                        rule=resolved[lane["lane"]].get("prune", FULL),
                        fraction=fraction, seed=lane["seed"],
                        test_acc=nan(lane.get("test_acc")),
                        holdout_acc=nan(lane.get("holdout_acc")),
                        diverged=bool(lane["diverged"])))
  return found


def curves(paths: list[str]) -> list[dict]:
  """Per rule and kept fraction (in that order): seeds, the final test
  accuracy's mean, std (ddof 1; NaN for one seed) and standard error, the mean
  accuracy on the pruned examples, and the lanes left out as diverged.

  Raises:
    UserError: a workdir is not finished, or the workdirs train on different
      data sets (their curves would not be one experiment's).
  """
  found = lanes(paths)
  datasets = {lane["dataset"] for lane in found}
  if len(datasets) > 1:
    raise errors.UserError(f"pruning curves pool one data set's runs; these "
                           f"train on {', '.join(sorted(datasets))}")
  cells = collections.defaultdict(list)
  for lane in found:
    cells[lane["rule"], lane["fraction"]].append(lane)
  rules = list(dict.fromkeys([FULL, "random"] + [rule for rule, _ in cells]))
  rows = []
  for (rule, fraction), members in sorted(cells.items(),
                                          key=lambda c: (rules.index(c[0][0]), c[0][1])):
    live = [l for l in members if not l["diverged"] and math.isfinite(l["test_acc"])]
    acc = np.asarray([l["test_acc"] for l in live])
    held = np.asarray([l["holdout_acc"] for l in live])
    std = float(acc.std(ddof=1)) if len(acc) > 1 else math.nan
    rows.append(dict(rule=rule, fraction=fraction, seeds=len(live),
                     test_acc=float(acc.mean()) if len(acc) else math.nan,
                     test_acc_std=std, test_acc_se=std / math.sqrt(len(acc)),
                     holdout_acc=float(held.mean()) if len(held) and
                     np.isfinite(held).all() else math.nan,
                     diverged=len(members) - len(live)))
  return rows


def markdown(rows: list[dict]) -> str:
  """The curves as a Markdown table: a row per rule, a column per fraction,
  test accuracy % mean +- std (seeds)."""
  fractions = sorted({r["fraction"] for r in rows})
  rules = list(dict.fromkeys(r["rule"] for r in rows))
  at = {(r["rule"], r["fraction"]): r for r in rows}
  cell = lambda r: ("-" if r is None or not r["seeds"] else
                    f"{100 * r['test_acc']:.2f} ± {100 * r['test_acc_std']:.2f} ({r['seeds']})"
                    if r["seeds"] > 1 else f"{100 * r['test_acc']:.2f} (1)")
  head = "| rule | " + " | ".join(f"{100 * f:g}% kept" for f in fractions) + " |"
  lines = [head, "|" + "---|" * (len(fractions) + 1)]
  for rule in rules:
    name = "full data" if rule == FULL else rule
    lines.append(f"| {name} | " + " | ".join(cell(at.get((rule, f))) for f in fractions)
                 + " |")
  return "\n".join(lines)
