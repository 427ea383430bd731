"""Per-example analysis of finished runs: the difficulty table and its correlations.

  python -m jaxmem.analyze --workdir=runs/a
  python -m jaxmem.analyze --workdir=runs/a --workdir=runs/b --out=analysis/ab

For each workdir, computes on the device what needs the trained networks
(prediction depth; which examples are critical at the end) and caches it in
`<workdir>/analysis/lanes.npz`; then pools the lanes of every workdir (all over
the same training set) into one difficulty table (`difficulty.csv`,
`difficulty.parquet`, see jaxmem.analysis.table) with the Spearman
correlations between its hardness measures (`correlations.json`), written to
`<workdir>/analysis/` or, for several workdirs, `--out`. The command and its
flags live in jaxmem.analyze.
"""

import collections
import dataclasses
import io
import json
import pathlib
import time
import zipfile

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
                  critical_examples: int | None = None,
                  cache_dir: pathlib.Path | None = None) -> dict[str, np.ndarray]:
  """A finished run's prediction depths and final critical samples, cached.

  Args:
    path: the workdir.
    data_dir: where its data set lives.
    k: neighbours of the prediction-depth probes.
    critical_examples: training examples searched for critical samples
      (evenly spaced); None: the run's config.critical.examples; 0: none.
    cache_dir: where the cache lives; default <workdir>/analysis.

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
  cache = pathlib.Path(cache_dir or wd.path / "analysis") / "lanes.npz"
  try:
    with np.load(cache) as f:
      if str(f["settings"]) == settings:
        return dict(depth=f["depth"], critical=f["critical"])
  except FileNotFoundError:
    pass
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    logging.warning("%s is damaged (%s): computing it again", cache, errors.cause(e))
  start = time.perf_counter()
  task, data, lane, state, lanes, _ = train.load_finished(str(path), data_dir)
  n = int(data.train_labels.shape[0])
  logging.info("%s: prediction depth (k=%d) of %d examples in %d lanes", path, k,
               n, len(lanes))
  depths = depth.compute(task, data, lane, state, k)["depth"]
  crit = np.full(depths.shape, np.nan)
  if count:
    index = critical.sample(n, count)
    logging.info("%s: critical-sample search on %d examples in %d lanes", path,
                 len(index), len(lanes))
    crit[:, index] = critical.compute(task, data, lane, state, index,
                                      config["num_epochs"])
  logging.info("%s: lane measures in %.1f s", path, time.perf_counter() - start)
  buffer = io.BytesIO()
  np.savez_compressed(buffer, depth=depths, critical=crit, settings=settings)
  _write(cache.parent, cache.name, buffer.getvalue())
  return dict(depth=depths, critical=crit)


def _write(folder: pathlib.Path, name: str, data: bytes) -> None:
  try:
    records.write_owned(folder, name, data)
  except OSError as e:
    raise errors.UserError(
        f"{errors.filesystem(e, 'cannot write')}; pass --out=DIR to write "
        "the analysis elsewhere") from None


def check_flags(paths: list[str], out: str | None, k: int,
                critical_examples: int | None) -> None:
  """Raises UserError for bad analysis flags, before any work.

  k must leave neighbours to vote in every run's training set, and
  critical_examples must be at most its size (0 skips the search).
  """
  if len(paths) > 1 and not out:
    raise errors.UserError("an analysis of several workdirs needs --out=DIR")
  for path in paths:
    config = records.Workdir(path).require_done().read_json("config.json")
    n = config["dataset"]["train_shape"][0]
    if not 1 <= k < n:
      raise errors.UserError(f"--knn_k={k}: valid: 1..{n - 1} (the training "
                             f"examples of {path}, less the one predicted)")
    if critical_examples is not None and not 0 <= critical_examples <= n:
      raise errors.UserError(
          f"--critical_examples={critical_examples}: valid: 0 (no search)..{n} "
          f"(the training examples of {path})")


def check_metrics(path: pathlib.Path, rows: list[dict], num_lanes: int,
                  num_epochs: int) -> None:
  """Warns when metrics.jsonl lacks epochs or holds rows twice."""
  seen = collections.Counter((r.get("epoch"), r.get("lane")) for r in rows)
  twice = sum(1 for c in seen.values() if c > 1)
  missing = num_lanes * num_epochs - len(
      [key for key in seen if isinstance(key[0], int) and 1 <= key[0] <= num_epochs])
  if twice:
    logging.warning("%s/metrics.jsonl holds %d (epoch, lane) rows more than once; "
                    "the last of each is used", path, twice)
  if missing > 0:
    logging.warning("%s/metrics.jsonl lacks %d of its %d (epoch, lane) rows", path,
                    missing, num_lanes * num_epochs)


def run(paths: list[str], out: str | None = None, data_dir=None, k: int = 30,
        critical_examples: int | None = None) -> Analysis:
  """Analyses finished workdirs over the same training set; writes the table.

  Writes only under `out` when it is given (caches included), else under
  <workdir>/analysis.
  """
  check_flags(paths, out, k, critical_examples)
  workdirs = [records.Workdir(p).require_done() for p in paths]
  examples = [wd.read_examples() for wd in workdirs]
  datasets = {json.dumps(wd.read_json("config.json")["dataset"]) for wd in workdirs}
  if len(datasets) > 1 or any(not np.array_equal(e["train_index"], examples[0]["train_index"])
                              for e in examples):
    raise errors.UserError(
        "the workdirs train on different data sets; analyse them separately")
  num_classes = workdirs[0].read_json("config.json")["dataset"]["num_classes"]
  runs, holdout_runs = [], []
  for i, (wd, ex) in enumerate(zip(workdirs, examples)):
    cache = pathlib.Path(out) / "cache" / f"{i}_{wd.path.name}" if out else None
    measures = lane_measures(wd.path, data_dir, k, critical_examples, cache)
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
  try:
    table.write(cols, folder)
  except OSError as e:
    raise errors.UserError(f"{errors.filesystem(e, 'cannot write')}; pass "
                           "--out=DIR to write the analysis elsewhere") from None
  _write(folder, "correlations.json", (records.dumps(dict(
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
