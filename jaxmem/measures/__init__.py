"""Measures: what a run records about its lanes, each a program for ONE lane.

A measure has a cadence (`due`: every epoch, every k epochs, final), runs
either inside the training epoch (`in_epoch`, seeing each example's
correctness when it was presented) or after it, and records
  * per-lane sums, which leave the device once per epoch and become
    metrics.jsonl columns on the host (`rates`), and/or
  * per-example accumulators, O(N) per lane, part of the run's state on the
    device: sharded with the lanes, saved in checkpoints, independent of the
    number of epochs; examples.npz holds their final values (`record`).

Every module of this package defines `MEASURES`, a list of `Measure`s; the
registry `REGISTRY` is a plain dict built from them, so adding a measure
touches its own file and its test. The epoch loop, checkpoints, metrics.jsonl
and examples.npz iterate over the measures a config enables (`enabled`).
"""

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import steps


@dataclasses.dataclass(frozen=True)
class Info:
  """Static facts about a run that measures size and judge by."""
  config: Any
  num_train: int
  num_test: int
  subset_size: int
  num_classes: int

  @property
  def epoch_dtype(self):
    """The smallest unsigned dtype that counts to num_epochs (0 = never)."""
    n = self.config.num_epochs
    return jnp.uint8 if n < 2**8 else jnp.uint16 if n < 2**16 else jnp.int32

  @property
  def epoch_index_dtype(self):
    """The smallest signed dtype for an epoch or -1 (examples.npz's "never")."""
    n = self.config.num_epochs
    return np.int8 if n < 2**7 else np.int16 if n < 2**15 else np.int32

  @property
  def class_dtype(self):
    return jnp.int8 if self.num_classes <= 127 else jnp.int16

  @property
  def example_index_dtype(self):
    """The smallest unsigned dtype for a training example's position."""
    n = self.num_train
    return np.uint8 if n <= 2**8 else np.uint16 if n <= 2**16 else np.int32


class Context:
  """What a measure's update sees of one lane, in one traced program.

  `evaluate(split)` is computed once per program, however many measures ask.
  """

  def __init__(self, task: steps.Task, data: steps.Data, lane: steps.Lane,
               state: steps.TrainState, epoch: jax.Array,
               presented: jax.Array | None = None):
    self.task, self.data, self.lane, self.state = task, data, lane, state
    self.epoch = epoch  # int32 [], 1-based: the epoch just trained.
    self.presented = presented  # int8 [N]: 1, 0, -1 not presented (in_epoch).
    self._evaluated = {}

  def evaluate(self, split: str) -> dict[str, jax.Array]:
    if split not in self._evaluated:
      self._evaluated[split] = steps.evaluate(self.task, self.data, self.lane,
                                              self.state, split)
    return self._evaluated[split]


@dataclasses.dataclass(frozen=True)
class Measure:
  """One measure; see the module docstring.

  Attributes:
    name: its key in REGISTRY and in the state's records.
    enabled: config -> whether a run records it.
    due: (config, epoch 1-based) -> whether it runs after that epoch.
    init: Info -> its accumulators for one lane (a pytree; {} for none).
    update: (Context, accumulators) -> (accumulators, {name: float32 []} sums).
    columns: the metrics.jsonl columns it fills (null on epochs not due).
    rates: (sums, host numpy [L] each; Info) -> {column: float [L]}.
    record: (accumulators, host numpy with a lane axis; Info) -> examples.npz
      fields {name: [L, ...]}.
    in_epoch: runs inside the training epoch (needs Context.presented).
  """
  name: str
  enabled: Callable[[Any], bool]
  due: Callable[[Any, int], bool]
  init: Callable[[Info], Any]
  update: Callable[[Context, Any], tuple[Any, dict]]
  columns: tuple[str, ...] = ()
  rates: Callable[[dict, Info], dict] = lambda sums, info: {}
  record: Callable[[Any, Info], dict] = lambda acc, info: {}
  in_epoch: bool = False


def every_epoch(config, epoch: int) -> bool:
  del config, epoch
  return True


def final(config, epoch: int) -> bool:
  return epoch == config.num_epochs


def _discover() -> dict[str, Measure]:
  found = {}
  for module in pkgutil.iter_modules(__path__):
    for measure in importlib.import_module(f"{__name__}.{module.name}").MEASURES:
      assert measure.name not in found, measure.name
      found[measure.name] = measure
  return found


REGISTRY: dict[str, Measure] = _discover()


def enabled(config) -> list[Measure]:
  """The measures `config` records, in registry order."""
  return [m for m in REGISTRY.values() if m.enabled(config)]


def columns(config) -> tuple[str, ...]:
  """metrics.jsonl's measure columns for `config`, in registry order."""
  return tuple(c for m in REGISTRY.values() for c in m.columns)


def init(measures: list[Measure], info: Info) -> dict:
  """One lane's accumulators of every measure: {name: pytree}."""
  return {m.name: m.init(info) for m in measures}


def epoch_program(task: steps.Task, measures: list[Measure]):
  """One lane's epoch: training, then the in-epoch measures.

  Returns fn(data, lane, train, records, epoch 0-based) -> (train, records,
  out), where `records` holds the in-epoch measures' accumulators only (so the
  others are neither passed nor copied), and out = {"steps": float32 [3],
  "diverged": int32 [], "presented": int8 [N], name: sums of each in-epoch
  measure}.
  """
  inside = [m for m in measures if m.in_epoch]

  def run(data, lane, train, records, epoch):
    train, out = steps.train_epoch(task, data, lane, train, epoch)
    ctx = Context(task, data, lane, train, epoch + 1, out["presented"])
    records = dict(records)
    for m in inside:
      records[m.name], out[m.name] = m.update(ctx, records[m.name])
    return train, records, out
  return run


def host_driven_programs(task: steps.Task, measures: list[Measure]):
  """The epoch program cut in three one-lane programs, for an epoch driven
  step by step from the host (config.epoch_driver = "host"): the same
  computation as `epoch_program`, whose steps then run as top-level XLA
  programs instead of inside a lax.scan.

  Returns (order, step, finish):
    order(lane, epoch) -> int32 [S, B];
    step(data, lane, train, index [B]) -> (train, (sums [3], correct [B]));
    finish(data, lane, train, records, order, sums [S, 3], correct [S, B],
      epoch) -> (records, out) as `epoch_program`'s.
  """
  inside = [m for m in measures if m.in_epoch]

  def order(lane, epoch):
    return steps.epoch_order(task, lane, epoch)

  def step(data, lane, train, index):
    return steps.train_step(task, data, lane, train, index)

  def finish(data, lane, train, records, order, sums, correct, epoch):
    out = steps.epoch_outputs(data, train, order, sums, correct)
    ctx = Context(task, data, lane, train, epoch + 1, out["presented"])
    records = dict(records)
    for m in inside:
      records[m.name], out[m.name] = m.update(ctx, records[m.name])
    return records, out
  return order, step, finish


def after_program(task: steps.Task, measures: list[Measure]):
  """One lane's measures after an epoch: fn(data, lane, train, records, epoch
  1-based) -> (records, {name: sums}), `records` holding only theirs."""

  def run(data, lane, train, records, epoch):
    ctx = Context(task, data, lane, train, epoch)
    records, out = dict(records), {}
    for m in measures:
      records[m.name], out[m.name] = m.update(ctx, records[m.name])
    return records, out
  return run


def in_epoch_names(measures: list[Measure]) -> tuple[str, ...]:
  return tuple(m.name for m in measures if m.in_epoch)


def rows_rates(measures: list[Measure], due: set[str], sums: dict,
               info: Info, num_lanes: int) -> dict[str, np.ndarray]:
  """Every measure column as float [L]: rates where due, NaN elsewhere."""
  out = {}
  for m in REGISTRY.values():
    rates = m.rates(sums[m.name], info) if m.name in due and m in measures else {}
    for c in m.columns:
      out[c] = np.asarray(rates.get(c, np.full(num_lanes, np.nan)), np.float64)
  return out
