"""Reports: Markdown tables and PNG figures from finished workdirs.

  jaxmem report --workdir=runs/quickstart
  jaxmem report --workdir=runs/a --workdir=runs/b --out=reports/ab

writes `<workdir>/report/report.md` (or `<out>/report.md` for several
workdirs) with its PNGs. Per run: the final numbers (mean +- std over seeds per
grid point), learning curves per grid point (Zhang et al. 2017, Fig. 1a), the
critical sample ratio over training when measured (Arpit et al. 2017), and for
runs that sweep label corruption, test error and time to fit against the level
(Fig. 1c, 1b). Per example, pooled over the workdirs when they share a training
set (else per workdir), one section per group of lanes that trained on the
same labels distribution and inputs: the difficulty table of jaxmem.analysis,
the rank correlations of its measures, how well each score finds corrupted
labels, histograms of forgetting events and prediction depth, and grids of the
easiest and hardest examples. The command and its flags
live in jaxmem.commands.report.
"""

import collections
import json
import math
import os
import pathlib
import re

from absl import logging
import numpy as np

from jaxmem import errors
from jaxmem import results
from jaxmem.analysis import detection
from jaxmem.analysis import difficulty
from jaxmem.analysis import pruning
from jaxmem.analysis import table
from jaxmem.report import figures
from jaxmem.workdir import files
from jaxmem.workdir import summary as summary_lib


def _run_section(run: results.Results, folder: pathlib.Path, threshold: float) -> list[str]:
  cfg = run.config
  parts = [f"## {run.name}", "",
           f"`{run.path}`: model `{cfg['model']}` on `{cfg['dataset']}` "
           f"({run.described['dataset']['source']}), {len(run.described['lanes'])} "
           f"lanes, {cfg['num_epochs']} epochs, seed {cfg['seed']}; "
           f"{run.summary['train_s']:.0f} s training, "
           f"{run.summary['compile_s']:.0f} s compiling.", "",
           "Final accuracy in %, mean +- std over seeds:", "",
           summary_lib.markdown(run.summary), ""]
  names = ([figures.learning_curves(run, folder)] + figures.critical_curves(run, folder)
           + figures.corruption_figures(run, folder, threshold))
  return parts + [line for n in names for line in (f"![{n}]({n})", "")]


def _pruning_section(runs: list[results.Results], folder: pathlib.Path) -> list[str]:
  """Test accuracy against the fraction kept, pooled over the runs, when some
  of them are pruned (jaxmem.analysis.pruning)."""
  if not any("pruning" in r.described for r in runs):
    return []
  try:
    rows = pruning.curves([str(r.path) for r in runs])
  except errors.UserError as e:
    return ["## Data pruning", "", f"Not available: {e}", ""]
  name = figures.pruning_curves(rows, folder)
  return ["## Data pruning", "",
          "Final test accuracy in %, mean ± std over seeds (seeds), per rule and "
          "fraction of the training set kept; `full data`: the unpruned runs.", "",
          pruning.markdown(rows), "", f"![{name}]({name})", ""]


def _images(run: results.Results, data_dir) -> np.ndarray:
  """The run's training images (clean, uncorrupted), as it loaded them."""
  from jaxmem import datasets  # pylint: disable=g-import-not-at-top
  return datasets.from_config(run.config, data_dir).train.images


def _examples_section(runs: list[results.Results], folder: pathlib.Path, name: str,
                      out: bool, **analysis_args) -> list[str]:
  """Per-example difficulty of `runs` (one training set): one section per
  group of lanes trained on the same labels distribution and inputs."""
  result = difficulty.analyze([str(r.path) for r in runs],
                              out=str(folder / f"{name}_analysis") if out else None,
                              **analysis_args)
  table_link = os.path.relpath(result.folder / "difficulty.csv", folder)
  images = None
  parts = []
  for group in result.groups:
    cols, tag = group.columns, f"{name}_{re.sub(r'[^a-z0-9]+', '_', group.name.lower())}"
    pooled = {k: np.concatenate([r[k] for r in group.per_lane])
              for k in ("forgetting", "corrupted", "mask", "depth")
              if all(k in r for r in group.per_lane)}
    written = [figures.forgetting_histogram(tag, pooled["forgetting"], pooled["corrupted"],
                                            pooled["mask"], folder)]
    if "depth" in pooled:
      written.append(figures.depth_histogram(tag, pooled["depth"], pooled["corrupted"],
                                             pooled["mask"], folder))
    measure = "cscore" if "cscore" in cols else "forgetting_mean"
    if images is None:
      images = _images(runs[0], analysis_args.get("data_dir"))
    written.append(figures.example_grid(tag, images, cols, measure,
                                        table.hardness(cols)[measure], folder))
    coverage = ""
    if "cscore" in cols:
      uncovered = int(np.isnan(cols["cscore"]).sum())
      coverage = (f" C-score coverage: every example was held out by "
                  f"{int(cols['heldout_lanes'].min())} to "
                  f"{int(cols['heldout_lanes'].max())} lanes" if not uncovered else
                  f" C-score coverage: {uncovered} examples were held out by no lane "
                  "(their C-score is NaN)")
      coverage += f", over {int(cols['cscore_runs'].max())} run(s)."
    detected = ([] if group.detection is None else
                ["How well each score finds the corrupted labels (AUROC and average "
                 "precision, mean ± std over lanes):", "",
                 detection.markdown(group.detection), ""])
    parts += ([f"## Per-example difficulty: {name}, {group.name}", "",
               f"{len(cols['index'])} training examples, pooled over "
               f"{len(pooled['mask'])} lanes of {', '.join(r.name for r in runs)} "
               f"that trained on {group.name}. The table, one row per example and "
               f"group: [difficulty.csv]({table_link}) (and .parquet).{coverage}",
               "", "Spearman rank correlations between hardness measures (each signed "
               "so that larger is harder; C-score enters as 1 - C-score):", "",
               table.correlation_table(group.names, group.correlations), ""]
              + detected + [line for n in written for line in (f"![{n}]({n})", "")])
  return parts


def write(paths: list[str], out: str | None = None, threshold: float = 1.0,
          **analysis_args) -> pathlib.Path:
  """Writes report.md and its figures; returns the report's path.

  Args:
    paths: finished workdirs.
    out: the report's folder; default <workdir>/report for one workdir.
    threshold: training accuracy that counts as fitted.
    **analysis_args: data_dir, k, critical_examples for jaxmem.analysis.difficulty.
  """
  if len(paths) > 1 and not out:
    raise errors.UserError("a report on several workdirs needs --out=DIR")
  if not (math.isfinite(threshold) and 0 < threshold <= 1):
    raise errors.UserError(f"--fit_threshold={threshold}: valid: a training "
                           "accuracy in (0, 1]")
  difficulty.check_flags(paths, out or (paths[0] if len(paths) == 1 else None),
                      analysis_args.get("k", 30),
                      analysis_args.get("critical_examples"))
  runs = [results.open(p) for p in paths]
  folder = pathlib.Path(out) if out else runs[0].path / "report"
  try:
    return _write(runs, folder, threshold, bool(out), analysis_args)
  except OSError as e:
    raise errors.UserError(f"{errors.filesystem(e, 'cannot write')}; pass "
                           "--out=DIR to write the report elsewhere") from None


def _write(runs: list[results.Results], folder: pathlib.Path, threshold: float, out: bool,
           analysis_args: dict) -> pathlib.Path:
  folder.mkdir(parents=True, exist_ok=True)
  parts = ["# jaxmem report", ""]
  for run in runs:
    parts += _run_section(run, folder, threshold)
  by_data = collections.defaultdict(list)
  for run in runs:
    by_data[json.dumps(run.described["dataset"], sort_keys=True)].append(run)
  parts += _pruning_section(runs, folder)
  for group in by_data.values():
    name = group[0].name if len(group) == 1 else f"{group[0].described['dataset']['name']}_pooled"
    try:
      parts += _examples_section(group, folder, name, out, **analysis_args)
    except errors.UserError as e:  # E.g. the final checkpoint was deleted.
      logging.warning("no per-example section for %s: %s", name, e)
      parts += [f"## Per-example difficulty: {name}", "", f"Not available: {e}", ""]
  return files.write_owned(folder, "report.md", "\n".join(parts).encode())
