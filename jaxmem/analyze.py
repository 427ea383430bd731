"""Per-example analysis of finished runs: the difficulty table and its correlations.

  python -m jaxmem.analyze --workdir=runs/a
  python -m jaxmem.analyze --workdir=runs/a --workdir=runs/b --out=analysis/ab

For each workdir, computes on the device what needs the trained networks
(prediction depth; which examples are critical at the end) and caches it in
`<workdir>/analysis/lanes.npz`; then pools the lanes of every workdir (all over
the same training set) into one difficulty table (`difficulty.csv`,
`difficulty.parquet`, see jaxmem.analysis.table) with the Spearman
correlations between its hardness measures (`correlations.json`), written to
`<workdir>/analysis/` or, for several workdirs, `--out`. Flags live in
jaxmem.main.
"""

import dataclasses
import json
import pathlib
import time

from absl import logging
import numpy as np

from jaxmem import errors
from jaxmem import records
from jaxmem.analysis import table


@dataclasses.dataclass
class Analysis:
  """What `run` computed and where it wrote it."""
  folder: pathlib.Path
  columns: dict[str, np.ndarray]  # The difficulty table.
  names: list[str]  # The hardness measures correlated, in matrix order.
  correlations: np.ndarray  # float [K, K] Spearman correlations.
  per_lane: list[dict[str, np.ndarray]]  # Per workdir: table.per_lane().


def lane_measures(path: pathlib.Path, data_dir=None, k: int = 30,
                  critical_examples: int | None = None) -> dict[str, np.ndarray]:
  """A finished run's prediction depths and final critical samples, cached.

  Args:
    path: the workdir.
    data_dir: where its data set lives.
    k: neighbours of the prediction-depth probes.
    critical_examples: training examples searched for critical samples
      (evenly spaced); None: the run's config.critical.examples.

  Returns:
    {"depth": int [L, N], "critical": float [L, N] (1, 0, NaN: not searched)}.
  """
  # pylint: disable=g-import-not-at-top  (the device work imports JAX)
  from jaxmem import train
  from jaxmem.analysis import critical
  from jaxmem.analysis import depth
  wd = records.Workdir(path)
  config = wd.read_json("config.json")["config"]
  count = config["critical"]["examples"] if critical_examples is None else critical_examples
  settings = json.dumps(dict(k=k, critical_examples=count,
                             critical=config["critical"]), sort_keys=True)
  cache = wd.path / "analysis" / "lanes.npz"
  if cache.exists():
    with np.load(cache) as f:
      if str(f["settings"]) == settings:
        return dict(depth=f["depth"], critical=f["critical"])
  start = time.perf_counter()
  task, data, lane, state, lanes, _ = train.load_finished(str(path), data_dir)
  n = int(data.train_labels.shape[0])
  logging.info("%s: prediction depth (k=%d) of %d examples in %d lanes", path, k,
               n, len(lanes))
  depths = depth.compute(task, data, lane, state, k)["depth"]
  index = critical.sample(n, count)
  logging.info("%s: critical-sample search on %d examples in %d lanes", path,
               len(index), len(lanes))
  found = critical.compute(task, data, lane, state, index, config["num_epochs"])
  crit = np.full(depths.shape, np.nan)
  crit[:, index] = found
  logging.info("%s: lane measures in %.1f s", path, time.perf_counter() - start)
  cache.parent.mkdir(exist_ok=True)
  tmp = cache.with_name(".lanes.npz.tmp")
  with open(tmp, "wb") as f:
    np.savez_compressed(f, depth=depths, critical=crit, settings=settings)
  tmp.replace(cache)
  return dict(depth=depths, critical=crit)


def run(paths: list[str], out: str | None = None, data_dir=None, k: int = 30,
        critical_examples: int | None = None) -> Analysis:
  """Analyses finished workdirs over the same training set; writes the table."""
  if len(paths) > 1 and not out:
    raise errors.UserError("an analysis of several workdirs needs --out=DIR")
  if k < 1 or (critical_examples is not None and critical_examples < 0):
    raise errors.UserError(f"--knn_k must be >= 1 and --critical_examples >= 0, "
                           f"got {k} and {critical_examples}")
  workdirs = [records.Workdir(p).require_done() for p in paths]
  examples = [wd.read_examples() for wd in workdirs]
  datasets = {json.dumps(wd.read_json("config.json")["dataset"]) for wd in workdirs}
  if len(datasets) > 1 or any(not np.array_equal(e["train_index"], examples[0]["train_index"])
                              for e in examples):
    raise errors.UserError(
        "the workdirs train on different data sets; analyse them separately")
  num_classes = workdirs[0].read_json("config.json")["dataset"]["num_classes"]
  runs, holdout_runs = [], []
  for wd, ex in zip(workdirs, examples):
    measures = lane_measures(wd.path, data_dir, k, critical_examples)
    runs.append(table.per_lane(ex, measures["depth"], measures["critical"]))
    if ex["in_subset"].all():
      continue
    if (ex["labels"] != ex["labels"][:1]).any():
      logging.warning(
          "%s: lanes train on different labels (corruption_draw='per_seed'), so "
          "held-out accuracy is judged on each lane's own labels; for C-scores "
          "of one noisy data set use corruption_draw='shared'", wd.path)
    live = ex["diverged_epoch"] < 0
    holdout_runs.append((ex["train_correct"][live, -1], ex["in_subset"][live]))
  cols = table.build(runs, examples[0]["train_index"], examples[0]["clean_labels"],
                     num_classes, holdout_runs)
  names, matrix = table.correlations(cols)
  folder = pathlib.Path(out) if out else workdirs[0].path / "analysis"
  table.write(cols, folder)
  records.atomic_write(folder / "correlations.json", (records.dumps(dict(
      workdirs=[str(wd.path) for wd in workdirs], measures=names,
      spearman=matrix)) + "\n").encode())
  return Analysis(folder=folder, columns=cols, names=names, correlations=matrix,
                  per_lane=runs)


def correlation_table(names: list[str], matrix: np.ndarray) -> str:
  """The correlation matrix as a Markdown table."""
  lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
  for name, row in zip(names, matrix):
    lines.append(f"| {name} | " + " | ".join(
        f"{v:+.2f}" if np.isfinite(v) else "n/a" for v in row) + " |")
  return "\n".join(lines)


if __name__ == "__main__":
  from jaxmem import main  # pylint: disable=g-import-not-at-top
  main.run_analyze()
