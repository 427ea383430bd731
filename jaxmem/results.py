"""A finished run's results in Python: `jaxmem.open(workdir)`.

The one reader of a finished workdir's files for people and for the report:
its config.json, its metrics.jsonl rows and its summary.json, with each grid
point's curves over seeds.
"""

import collections
import dataclasses
import pathlib

from absl import logging
import numpy as np

from jaxmem.workdir import files


@dataclasses.dataclass
class Results:
  """A finished workdir, read.

  Attributes:
    name: the workdir's folder name.
    path: the workdir.
    described: config.json: the config, the lanes, randomness, data, execution.
    rows: metrics.jsonl, one dict per lane and epoch.
    summary: summary.json.
  """
  name: str
  path: pathlib.Path
  described: dict
  rows: list[dict]
  summary: dict

  @property
  def config(self) -> dict:
    """The run's config, as config.json records it."""
    return self.described["config"]

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


def open(path: str | pathlib.Path) -> Results:  # pylint: disable=redefined-builtin
  """Reads a finished workdir, or raises UserError naming what is missing or
  damaged (or that it is still running); warns if metrics.jsonl lacks epochs
  or holds rows twice."""
  wd = files.Workdir(path).require_done()
  described, rows = wd.read_json("config.json"), wd.read_metrics()
  check_metrics(wd.path, rows, len(described["lanes"]),
                described["config"]["num_epochs"])
  return Results(name=wd.path.name, path=wd.path, described=described, rows=rows,
                 summary=wd.read_json("summary.json"))
