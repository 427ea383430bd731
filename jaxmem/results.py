"""A finished run's results in Python: `jaxmem.open(workdir)`.

The one reader of a finished workdir for people and for the report: tables as
pandas DataFrames (the lanes, metrics.jsonl, the per-example records with the
examples' official ids, the difficulty table), the summary, and each lane's
trained network, to run on new images.

Per-example records come in long form, one row per (lane, example): that is
what pandas' groupby, merge and plotting libraries take, and it joins with
published per-example scores on the example's id. A run of 1,024 lanes x
50,000 examples makes 51M rows; `.arrays` gives examples.npz's [lanes, N]
arrays as they are, for such runs.
"""

import collections
import dataclasses
import functools
import json
import pathlib

from absl import logging
import jax
import numpy as np

from jaxmem import config_files
from jaxmem import errors
from jaxmem.workdir import files


@dataclasses.dataclass
class Results:
  """A finished workdir, read (its tables are made when first asked for).

  Attributes:
    name: the workdir's folder name.
    path: the workdir.
    described: config.json: the config, the lanes, randomness, data, execution.
    rows: metrics.jsonl, one dict per lane and epoch.
    summary: summary.json: final numbers per lane, mean +- std per grid point.
  """
  name: str
  path: pathlib.Path
  described: dict
  rows: list[dict]
  summary: dict
  data_dir: str | None = None

  @functools.cached_property
  def config(self):
    """The run's config (a ConfigDict), as config.json records it, on today's
    defaults."""
    return config_files.merge_stored(self.described["config"])

  @functools.cached_property
  def lanes(self):
    """DataFrame, a row per lane: lane, seed, the grid's values, every
    per-lane value resolved (learning rate, ...), final metrics, divergence."""
    import pandas as pd  # pylint: disable=g-import-not-at-top
    resolved = {l["lane"]: l["resolved"] for l in self.described["lanes"]}
    return pd.DataFrame([{**lane, **{k: v for k, v in resolved[lane["lane"]].items()
                                     if k not in lane}}
                         for lane in self.summary["lanes"]]).set_index("lane")

  @functools.cached_property
  def metrics(self):
    """DataFrame: metrics.jsonl, row for row."""
    import pandas as pd  # pylint: disable=g-import-not-at-top
    return pd.DataFrame(self.rows)

  @functools.cached_property
  def arrays(self) -> dict[str, np.ndarray]:
    """examples.npz as it is: {name: array}, [lanes, N] per-example records."""
    return files.Workdir(self.path).read_examples()

  def _long(self, split: str):
    import pandas as pd  # pylint: disable=g-import-not-at-top
    arrays = self.arrays
    index = arrays[f"{split}_index"]
    lanes = len(arrays["lane_seed"])
    columns = {k: v.reshape(-1) for k, v in arrays.items()
               if v.ndim == 2 and v.shape == (lanes, len(index))}
    frame = pd.DataFrame({"lane": np.repeat(np.arange(lanes), len(index)),
                          "example": np.tile(index, lanes), **columns})
    return frame.set_index(["lane", "example"])

  @functools.cached_property
  def examples(self):
    """DataFrame of the training examples' records, a row per (lane, example),
    indexed by the lane and the example's official id: the labels trained on,
    corruption and subset membership, and every measure's records."""
    return self._long("train")

  @functools.cached_property
  def test_examples(self):
    """The same for the test examples (final predictions, correctness)."""
    return self._long("test")

  def difficulty(self, **options):
    """DataFrame: the difficulty table (jaxmem analyze), one row per group of
    lanes and training example (`group` says which: lanes trained on the
    same labels distribution and inputs). Read from <workdir>/analysis/ when
    there, else computed (and cached there).

    Args:
      **options: jaxmem.analysis.difficulty.analyze's (k, critical_examples,
        out, pool_all...); given any, the table is computed with them.
    """
    import pandas as pd  # pylint: disable=g-import-not-at-top
    cached = self.path / "analysis" / "difficulty.parquet"
    if not options and cached.exists():
      found = pd.read_parquet(cached)
      if "group" in found:  # Else written by an analysis before groups.
        return found
    from jaxmem.analysis import table  # pylint: disable=g-import-not-at-top
    analysis = self._analyze(**options)
    return pd.DataFrame(table.stack({g.name: g.columns for g in analysis.groups}))

  def detection(self, **options):
    """DataFrame: how well each score finds the corrupted labels, per group
    of lanes with label corruption (jaxmem.analysis.detection): AUROC and
    average precision, mean and std over lanes, and pooled. Empty without
    label corruption. Read from <workdir>/analysis/detection.json when there,
    else computed as `difficulty` is (and cached with it)."""
    import pandas as pd  # pylint: disable=g-import-not-at-top
    cached = self.path / "analysis" / "detection.json"
    if not options and cached.exists():
      groups = json.loads(cached.read_text())["groups"]
    else:
      groups = {g.name: g.detection and dataclasses.asdict(g.detection)
                for g in self._analyze(**options).groups}
    return pd.DataFrame([dict(group=name, rate=found["rate"], lanes=found["lanes"], **row)
                         for name, found in groups.items() if found
                         for row in found["rows"]])

  def datamodels(self, group: str | None = None) -> dict[str, np.ndarray]:
    """The hold-out store (what datamodels keep, Ilyas et al. 2022) of one
    group of lanes: `in_subset` (bool [L, N]), the final `train_margin`,
    `train_prob`, `test_margin`, `test_prob` (float32 [L, N] and [L, M]),
    `train_correct`, `test_correct`, and the examples' official ids
    (`train_index`, `test_index`); only the group's lanes (`lanes`: their
    positions in the run).

    Raises:
      UserError: not a hold-out run (config.subset_ratio), or several
        groups and `group` names none of them.
    """
    from jaxmem.analysis import difficulty  # pylint: disable=g-import-not-at-top
    arrays = self.arrays
    if "train_margin" not in arrays:
      raise errors.UserError(f"{self.path} is not a hold-out run: its lanes train on "
                             "every example (set config.subset_ratio)")
    groups = difficulty.lane_groups(self.path)
    names = list(dict.fromkeys(groups))
    if group is None and len(names) == 1:
      group = names[0]
    if group not in names:
      raise errors.UserError(f"group {group!r}: valid choices: {', '.join(names)}")
    lanes = np.flatnonzero(groups == group)
    per_lane = ("in_subset", "train_margin", "train_prob", "test_margin", "test_prob",
                "train_correct", "test_correct")
    return dict({k: arrays[k][lanes] for k in per_lane if k in arrays}, lanes=lanes,
                train_index=arrays["train_index"], test_index=arrays["test_index"])

  def influence(self, k: int = 100, outcome: str = "correct", group: str | None = None):
    """DataFrame: the k (training, test) pairs of largest Feldman & Zhang
    influence, P(outcome on the test example | the training example in the
    lane's subset) - P(... | held out), with standard errors, over one
    group's lanes (jaxmem.analysis.influence, streamed: never N x M).

    Args:
      k: how many pairs.
      outcome: "correct" (Feldman & Zhang's), "margin" or "prob".
      group: the group of lanes (see `difficulty`), needed if several.
    """
    import pandas as pd  # pylint: disable=g-import-not-at-top
    from jaxmem.analysis import influence as influence_lib  # pylint: disable=g-import-not-at-top
    if outcome not in ("correct", "margin", "prob"):
      raise errors.UserError(f"outcome {outcome!r}: valid choices: correct, margin, prob")
    store = self.datamodels(group)
    pairs = influence_lib.top_pairs(store["in_subset"], store[f"test_{outcome}"], k=k)
    return pd.DataFrame(dict(
        train=store["train_index"][pairs.train], test=store["test_index"][pairs.test],
        influence=pairs.influence, se=pairs.se, lanes_in=pairs.lanes_in,
        lanes_out=pairs.lanes_out))

  def _analyze(self, **options):
    from jaxmem.analysis import difficulty  # pylint: disable=g-import-not-at-top
    options.setdefault("data_dir", self.data_dir)
    return difficulty.analyze([str(self.path)], **options)

  @functools.cached_property
  def _run(self):
    from jaxmem import run as run_lib  # pylint: disable=g-import-not-at-top
    return run_lib.Run.from_workdir(self.path, self.data_dir)

  def model(self, lane: int):
    """(module, variables) of lane `lane`'s network after the last epoch:
    `module.apply(variables, x, train=False)` gives logits."""
    run = self._run
    if not isinstance(lane, (int, np.integer)) or not 0 <= lane < run.num_lanes:
      raise errors.UserError(f"model({lane!r}): valid lanes: 0..{run.num_lanes - 1}")
    train = jax.tree.map(lambda x: np.asarray(x[lane]), run.state.train)
    variables = {"params": train.params}
    if train.batch_stats:
      variables["batch_stats"] = train.batch_stats
    return run.task.model, variables

  def predict(self, images, lane: int) -> np.ndarray:
    """Lane `lane`'s logits [B, C] on `images`, float [B, H, W, C] in [0, 1]
    (or uint8; [B, H, W] for one channel) of the run's image shape, with the
    run's preprocessing (not its input corruption) applied, in its compute
    dtype and evaluation chunks."""
    from jaxmem.datasets import preprocess  # pylint: disable=g-import-not-at-top
    from jaxmem.models import precision  # pylint: disable=g-import-not-at-top
    module, variables = self.model(lane)
    run = self._run
    images = given = np.asarray(images)
    shape = run.dataset.train.images.shape[1:]
    if images.ndim == 3 and shape[-1] == 1:  # NHW, as a data set may give them.
      images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != shape:
      raise errors.UserError(
          f"predict: images of shape {given.shape}; lane {lane} takes [batch, "
          f"{', '.join(map(str, shape))}] (floats in [0, 1], or uint8)")
    if images.dtype == np.uint8:
      images = images.astype(np.float32) / 255
    config = run.config

    @jax.jit
    def logits(variables, x):
      x = preprocess.apply(config.preprocess, x.astype(np.float32), None)
      return precision.apply(module, config.dtype, variables, x, train=False)
    size = config.eval_batch_size
    return np.concatenate([np.asarray(logits(variables, images[i:i + size]))
                           for i in range(0, len(images), size)])

  def point_label(self, coords: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in coords.items()) or "all lanes"

  def curves(self, metric: str) -> dict[str, np.ndarray]:
    """Grid point label -> float [seeds, epochs] of `metric` (NaN if missing)."""
    axes = list(self.summary["points"][0]["coords"])
    by_point = collections.defaultdict(lambda: collections.defaultdict(dict))
    for r in self.rows:
      label = self.point_label({a: r[a] for a in axes})
      value = r.get(metric)
      by_point[label][r["seed"]][r["epoch"]] = np.nan if value is None else value
    epochs = max(r["epoch"] for r in self.rows)
    return {label: np.asarray([[seeds[s].get(e, np.nan) for e in range(1, epochs + 1)]
                               for s in sorted(seeds)])
            for label, seeds in by_point.items()}


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


def open(path: str | pathlib.Path, data_dir=None) -> Results:  # pylint: disable=redefined-builtin
  """Reads a finished workdir, or raises UserError naming what is missing or
  damaged (or that it is still running); warns if metrics.jsonl lacks epochs
  or holds rows twice. `data_dir` is where its data set lives, for `.model`
  and `.predict` (default: $JAXMEM_DATA_DIR, else ~/.cache/jaxmem)."""
  wd = files.Workdir(path).require_done()
  described, rows = wd.read_json("config.json"), wd.read_metrics()
  check_metrics(wd.path, rows, len(described["lanes"]),
                described["config"]["num_epochs"])
  return Results(name=wd.path.name, path=wd.path, described=described, rows=rows,
                 summary=wd.read_json("summary.json"), data_dir=data_dir)
