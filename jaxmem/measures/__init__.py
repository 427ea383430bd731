"""Measures: what a run records about its lanes (see base.py for what one is).

A file here holds one family of measures and defines `MEASURES`, a list of
`base.Measure`s; `ALL` below lists them in the order of metrics.jsonl's
columns and examples.npz's records. Adding a measure is its file, its line
in `ALL`, and its test. The epoch (jaxmem.epoch), checkpoints, metrics.jsonl
and examples.npz iterate over the measures a config enables (`enabled`).
"""

import numpy as np

from jaxmem import steps
from jaxmem.measures import base
from jaxmem.measures import critical
from jaxmem.measures import depth
from jaxmem.measures import evaluation
from jaxmem.measures import forgetting
from jaxmem.measures import learning
from jaxmem.measures import scores

Measure, Context = base.Measure, base.Context

ALL: tuple[Measure, ...] = (*evaluation.MEASURES, *forgetting.MEASURES,
                            *learning.MEASURES, *critical.MEASURES, *depth.MEASURES,
                            *scores.MEASURES)
REGISTRY: dict[str, Measure] = {m.name: m for m in ALL}
assert len(REGISTRY) == len(ALL), "two measures share a name"


def enabled(config) -> list[Measure]:
  """The measures `config` records, in ALL's order."""
  return [m for m in ALL if m.enabled(config)]


def columns(config) -> tuple[str, ...]:
  """metrics.jsonl's measure columns, in ALL's order."""
  del config
  return tuple(c for m in ALL for c in m.columns)


def init(measures: list[Measure], task: steps.Task) -> dict:
  """One lane's accumulators of every measure: {name: pytree}."""
  return {m.name: m.init(task) for m in measures}


def rows_rates(measures: list[Measure], due: set[str], sums: dict,
               task: steps.Task, num_lanes: int) -> dict[str, np.ndarray]:
  """Every measure column as float [L]: rates where due, NaN elsewhere."""
  out = {}
  for m in ALL:
    rates = m.rates(sums[m.name], task) if m.name in due and m in measures else {}
    for c in m.columns:
      out[c] = np.asarray(rates.get(c, np.full(num_lanes, np.nan)), np.float64)
  return out
