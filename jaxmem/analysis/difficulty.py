"""Per-example analysis of finished runs: difficulty tables, correlations, detection.

  jaxmem analyze --workdir=runs/a
  jaxmem analyze --workdir=runs/a --workdir=runs/b --out=analysis/ab

For each workdir, computes on the device what needs the trained networks
(prediction depth; which examples are critical at the end) and caches it in
`<workdir>/analysis/`; then, per group of lanes that trained on the same
labels distribution and inputs (over every workdir, all over the same
training set), one difficulty table (see jaxmem.analysis.table), the Spearman
correlations between its hardness measures and, where labels were
corrupted, how well each score finds them (jaxmem.analysis.detection).
Written to `<workdir>/analysis/` or, for several workdirs, `--out`:
`difficulty.csv` and `difficulty.parquet` (a `group` column first),
`correlations.json` and `detection.json` by group. The command and its flags
live in jaxmem.commands.analyze.
"""

import collections
import dataclasses
import io
import json
import pathlib
import time
import zipfile

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import errors
from jaxmem import execution
from jaxmem import measures
from jaxmem import models
from jaxmem.analysis import detection as detection_lib
from jaxmem.analysis import published
from jaxmem.analysis import table
from jaxmem.workdir import files


@dataclasses.dataclass
class Group:
  """The analysis of one group of lanes (table.group_name: lanes trained on
  the same labels distribution and inputs)."""
  name: str
  columns: dict[str, np.ndarray]  # The difficulty table.
  names: list[str]  # The hardness measures correlated, in matrix order.
  correlations: np.ndarray  # float [K, K] Spearman correlations.
  per_lane: list[dict[str, np.ndarray]]  # Per workdir with lanes here: table.per_lane().
  lanes: list[np.ndarray]  # Per workdir: the lane ids in this group.
  detection: "detection_lib.Detection | None" = None  # With corrupted labels.
  comparison: "published.Comparison | None" = None  # With published scores (--compare).


@dataclasses.dataclass
class Analysis:
  """What `analyze` computed, per group of lanes, and where it wrote it."""
  folder: pathlib.Path
  groups: list[Group]

  def group(self, name: str | None = None) -> Group:
    """The group `name`, or with None the only one.

    Raises:
      UserError: no such group, or None where there are several.
    """
    names = [g.name for g in self.groups]
    if name is None and len(names) == 1:
      return self.groups[0]
    if name not in names:
      raise errors.UserError(
          f"group {name!r}: valid groups of this analysis: {', '.join(names)}"
          + ("" if name else " (or pool_all=True for one table of every lane)"))
    return self.groups[names.index(name)]


def lane_measures(path: pathlib.Path, data_dir=None, k: int = 30,
                  critical_examples: int | None = None,
                  cache_dir: pathlib.Path | None = None) -> dict[str, np.ndarray]:
  """A finished run's prediction depths and final critical samples.

  Taken from the run's own records when it measured them with these settings
  (config.depth.k, config.critical.examples); else computed on the device from
  the final checkpoint, each stage cached as soon as it is done (depth.npz,
  critical.npz), with progress and an ETA.

  Args:
    path: the workdir.
    data_dir: where its data set lives.
    k: neighbours of the prediction-depth probes.
    critical_examples: training examples searched for critical samples
      (evenly spaced); None: the run's config.critical.examples; 0: none.
    cache_dir: where the caches live; default <workdir>/analysis.

  Returns:
    {"depth": int [L, N] (None for a model without embeddings), "critical":
    float [L, N] (1, 0, NaN: not searched)}.
  """
  wd = files.Workdir(path)
  config = wd.read_json("config.json")["config"]
  examples = wd.read_examples()
  count = config["critical"]["examples"] if critical_examples is None else critical_examples
  cache_dir = pathlib.Path(cache_dir or wd.path / "analysis")
  lazy = _LazyRun(path, data_dir)
  shape = examples["labels"].shape
  if config.get("depth", {}).get("k") == k and "depth" in examples:
    depth = examples["depth"]
  else:
    depth = _stage(cache_dir / "depth.npz", dict(k=k), lambda: _depths(lazy(), k))
  if depth is None:
    logging.warning("%s: its model gives no embeddings (return_embeddings), so "
                    "there is no prediction depth", path)
  n = shape[1]
  critical = np.full(shape, np.nan)
  if count and count == config["critical"]["examples"] and "critical" in examples:
    found = examples["critical"].astype(np.float64)
    critical = np.where(found >= 0, found, np.nan)
  elif count:
    settings = dict(examples=count, critical=config["critical"],
                    epoch=config["num_epochs"])
    index = measures.critical.sample(n, count)
    found = _stage(cache_dir / "critical.npz", settings,
                   lambda: _criticals(lazy(), index))
    critical[:, index] = found
  return dict(depth=depth, critical=critical)


def _has_embeddings(run) -> bool:
  """Whether the run's model gives the embeddings prediction depth probes."""
  try:
    models.check(run.config.model, run.task.model, run.dataset.train.images.shape[1:],
                 run.task.num_classes, embeddings=True)
  except errors.UserError:
    return False
  return True


class _LazyRun:
  """The run rebuilt from its workdir, only if a stage needs it."""

  def __init__(self, path, data_dir):
    self.path, self.data_dir, self.run = path, data_dir, None

  def __call__(self):
    if self.run is None:
      from jaxmem import run as run_lib  # pylint: disable=g-import-not-at-top
      self.run = run_lib.Run.from_workdir(self.path, self.data_dir)
    return self.run


def _stage(cache: pathlib.Path, settings: dict, compute) -> np.ndarray:
  """A cached stage: the array in `cache` if made with `settings`, else computed
  and written at once."""
  settings = json.dumps(settings, sort_keys=True)
  try:
    with np.load(cache) as f:
      if str(f["settings"]) == settings:
        return f["values"]
  except FileNotFoundError:
    pass
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    logging.warning("%s is damaged (%s): computing it again", cache, errors.cause(e))
  values = compute()
  if values is None:  # Nothing to keep.
    return None
  buffer = io.BytesIO()
  np.savez_compressed(buffer, values=values, settings=settings)
  _write(cache.parent, cache.name, buffer.getvalue())
  return values


def _depths(run, k: int) -> np.ndarray | None:
  """Every lane's prediction depths; None for a model without embeddings."""
  if not _has_embeddings(run):
    return None
  task = run.task
  return _over_groups(run, f"prediction depth (k={k})", lambda d, l, s: (
      measures.depth.lane_depth(task, d, l, s.train, k)["depth"]))


def _criticals(run, index: np.ndarray) -> np.ndarray:
  task, epoch = run.task, run.config.num_epochs
  at = jnp.asarray(index)
  return _over_groups(run, f"critical samples ({len(index)} examples)",
                      lambda d, l, s: measures.critical.lane_critical(
                          task, d, l, s.train, at,
                          measures.critical.search_key(l, epoch)))


def _over_groups(run, what: str, fn) -> np.ndarray:
  """fn(data, lane, state) of one lane over every lane, a group of lanes per
  call so that progress (and an ETA) can be shown."""
  total, plan = run.num_lanes, run.plan
  size = min(total, max(plan.num_devices * plan.chunk, -(-total // 10)))
  group = execution.Plan(size, min(plan.chunk, size), min(plan.num_devices, size))
  lifted = jax.jit(group.lift(fn))
  start, parts = time.perf_counter(), []
  for first in range(0, total, size):
    take = np.minimum(np.arange(first, first + size), total - 1)
    pick = lambda x: x[take]
    out = lifted(run.data, jax.tree.map(pick, run.constants),
                 jax.tree.map(pick, run.state))
    parts.append(np.asarray(out)[: total - first])
    done, seconds = min(first + size, total), time.perf_counter() - start
    logging.info("%s: %d/%d lanes, %.0f s, ETA %.0f s", what, done, total, seconds,
                 seconds / done * (total - done))
  return np.concatenate(parts)


def _write(folder: pathlib.Path, name: str, data: bytes) -> None:
  try:
    files.write_owned(folder, name, data)
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
    config = files.Workdir(path).require_done().read_json("config.json")
    n = config["dataset"]["train_shape"][0]
    if not 1 <= k < n:
      raise errors.UserError(f"--knn_k={k}: valid: 1..{n - 1} (the training "
                             f"examples of {path}, less the one predicted)")
    if critical_examples is not None and not 0 <= critical_examples <= n:
      raise errors.UserError(
          f"--critical_examples={critical_examples}: valid: 0 (no search)..{n} "
          f"(the training examples of {path})")


def lane_groups(path, pool_all: bool = False) -> np.ndarray:
  """Each lane's group (table.group_name) from a workdir's config.json: its
  labels distribution (level and kind) and inputs; object [L]."""
  described = files.Workdir(path).read_json("config.json")
  kind = described["config"]["label_corruption_kind"]
  return np.array(["all lanes" if pool_all else table.group_name(
      lane["resolved"]["label_corruption"], kind, lane["resolved"]["input_corruption"])
                   for lane in described["lanes"]], dtype=object)


def analyze(paths: list[str], out: str | None = None, data_dir=None, k: int = 30,
            critical_examples: int | None = None, compare_with: str | None = None,
            pool_all: bool = False) -> Analysis:
  """Analyses finished workdirs over the same training set; writes the tables.

  One difficulty table, correlation matrix and (where labels were corrupted)
  detection table per group of lanes that trained on the same labels
  distribution and inputs; `pool_all` pools every lane into one group
  instead. Writes only under `out` when it is given (caches included), else
  under <workdir>/analysis: difficulty.csv/.parquet (a `group` column first),
  correlations.json and detection.json (by group).
  """
  check_flags(paths, out, k, critical_examples)
  if compare_with and not pathlib.Path(compare_with).is_file():
    raise errors.UserError(f"--compare={compare_with}: no such file")
  workdirs = [files.Workdir(p).require_done() for p in paths]
  examples = [wd.read_examples() for wd in workdirs]
  datasets = {json.dumps(wd.read_json("config.json")["dataset"]) for wd in workdirs}
  if len(datasets) > 1 or any(not np.array_equal(e["train_index"], examples[0]["train_index"])
                              for e in examples):
    raise errors.UserError(
        "the workdirs train on different data sets; analyse them separately")
  num_classes = workdirs[0].read_json("config.json")["dataset"]["num_classes"]
  runs, groups = [], []
  for i, (wd, ex) in enumerate(zip(workdirs, examples)):
    cache = pathlib.Path(out) / "cache" / f"{i}_{wd.path.name}" if out else None
    found = lane_measures(wd.path, data_dir, k, critical_examples, cache)
    runs.append(table.per_lane(ex, found["depth"], found["critical"]))
    groups.append(lane_groups(wd.path, pool_all))
  results = [_group(name, workdirs, examples, runs, groups, num_classes)
             for name in dict.fromkeys(g for lanes in groups for g in lanes)]
  folder = pathlib.Path(out) if out else workdirs[0].path / "analysis"
  try:
    table.write(table.stack({g.name: g.columns for g in results}), folder)
  except OSError as e:
    raise errors.UserError(f"{errors.filesystem(e, 'cannot write')}; pass "
                           "--out=DIR to write the analysis elsewhere") from None
  by_group = lambda fn: {g.name: fn(g) for g in results}
  _write(folder, "correlations.json", (files.dumps(dict(
      workdirs=[str(wd.path) for wd in workdirs], groups=by_group(
          lambda g: dict(measures=g.names, spearman=g.correlations)))) + "\n").encode())
  _write(folder, "detection.json", (files.dumps(dict(
      workdirs=[str(wd.path) for wd in workdirs], groups=by_group(
          lambda g: dataclasses.asdict(g.detection) if g.detection else None)))
                                    + "\n").encode())
  if compare_with:
    for g in results:
      g.comparison = published.compare(g.columns, compare_with)
    _write(folder, "comparison.json", (files.dumps(dict(
        published=str(compare_with), groups=by_group(
            lambda g: dataclasses.asdict(g.comparison)))) + "\n").encode())
  return Analysis(folder=folder, groups=results)


def _group(name: str, workdirs, examples, runs, groups, num_classes: int) -> Group:
  """One group's table, correlations and detection, from the lanes of every
  workdir in it."""
  lanes = [np.flatnonzero(g == name) for g in groups]
  per_lane = [table.lanes_of(r, g == name) for r, g in zip(runs, groups)
              if (g == name).any()]
  holdout = collections.defaultdict(list)
  for wd, ex, keep in zip(workdirs, examples, lanes):
    described = wd.read_json("config.json")
    # Pruned lanes hold out the examples a score chose: no random hold-out.
    if not len(keep) or ex["in_subset"][keep].all() or "pruning" in described:
      continue
    if (ex["labels"][keep] != ex["labels"][keep][:1]).any():
      logging.warning(
          "%s: lanes train on different labels (corruption_draw='per_seed'), so "
          "held-out accuracy is judged on each lane's own labels; for C-scores "
          "of one noisy data set use corruption_draw='shared'", wd.path)
    live = keep[ex["diverged_epoch"][keep] < 0]
    # Workdirs of one subset ratio (a sweep's seeds split over jobs) are one
    # estimate of the held-out accuracy at that ratio: their lanes pool.
    ratio = described["config"]["subset_ratio"]
    holdout[ratio].append((ex["train_correct"][live], ex["in_subset"][live],
                           ex["train_prob"][live] if "train_prob" in ex else None))
  holdout_runs = [tuple(None if any(p is None for p in part) else np.concatenate(part)
                        for part in zip(*parts))
                  for _, parts in sorted(holdout.items())]
  cols = table.build(per_lane, examples[0]["train_index"], examples[0]["clean_labels"],
                     num_classes, holdout_runs)
  if "cscore" in cols and np.isnan(cols["cscore"]).any():
    logging.warning("%s: %d of %d examples were held out by no lane: their C-score "
                    "is NaN (more lanes, or a smaller subset ratio, cover them)", name,
                    int(np.isnan(cols["cscore"]).sum()), len(cols["cscore"]))
  names, matrix = table.correlations(cols)
  pooled = {k: np.concatenate([r[k] for r in per_lane]) for k in per_lane[0]
            if all(k in r for r in per_lane)}
  return Group(name=name, columns=cols, names=names, correlations=matrix,
               per_lane=per_lane, lanes=lanes,
               detection=detection_lib.detect(pooled, cols.get("cscore")))
