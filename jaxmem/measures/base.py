"""What a measure is: a program for ONE lane, with a cadence and its records.

A measure has a cadence (`due`: every epoch, every k epochs, final), runs
either inside the training epoch (`in_epoch`, seeing each example's
correctness when it was presented) or after it, and keeps
  * per-lane sums, which leave the device once per epoch and become
    metrics.jsonl columns on the host (`rates`), and/or
  * per-example accumulators, O(N) per lane, part of the run's state on the
    device: sharded with the lanes, saved in checkpoints, independent of the
    number of epochs; examples.npz holds the records made from their final
    values (`record`).
"""

import dataclasses
from typing import Any, Callable

import jax

from jaxmem import lanes
from jaxmem import steps


class Context:
  """What a measure's update sees of one lane, in one traced program.

  `evaluate(split)` is computed once per program, however many measures ask.
  """

  def __init__(self, task: steps.Task, data: steps.Data, lane: lanes.Lane,
               state: steps.TrainState, epoch: jax.Array,
               presented: jax.Array | None = None,
               scores: dict[str, jax.Array] | None = None):
    self.task, self.data, self.lane, self.state = task, data, lane, state
    # int32 [], the epoch just trained (1-based); 0 before training, for the
    # measures due at the initialization.
    self.epoch = epoch
    self.presented = presented  # int8 [N]: 1, 0, -1 not presented (in_epoch).
    # {name: float32 [N]}: task.presentation_scores at each example's
    # presentation, NaN where not presented (in_epoch).
    self.scores = scores
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
    name: its key in REGISTRY and in the state's accumulators.
    enabled: config -> whether a run records it.
    due: (config, epoch) -> whether it runs after that epoch (1-based), or
      at the initialization (epoch 0, before training; after-epoch measures).
    init: Task -> its accumulators for one lane (a pytree; {} for none).
    update: (Context, accumulators) -> (accumulators, {name: float32 []} sums).
    columns: the metrics.jsonl columns it fills (null on epochs not due).
    rates: (sums, host numpy [L] each; Task) -> {column: float [L]}.
    record: (accumulators, host numpy with a lane axis; Task) -> examples.npz
      records {name: [L, ...]}.
    in_epoch: runs inside the training epoch (needs Context.presented).
  """
  name: str
  enabled: Callable[[Any], bool]
  due: Callable[[Any, int], bool]
  init: Callable[[steps.Task], Any]
  update: Callable[[Context, Any], tuple[Any, dict]]
  columns: tuple[str, ...] = ()
  rates: Callable[[dict, steps.Task], dict] = lambda sums, task: {}
  record: Callable[[Any, steps.Task], dict] = lambda acc, task: {}
  in_epoch: bool = False


def every_epoch(config, epoch: int) -> bool:
  del config
  return epoch >= 1


def at_epochs(key: str):
  """A cadence: the epochs listed in config.scores[key] (0: initialization)."""
  return lambda config, epoch: epoch in tuple(config.scores[key])


def final(config, epoch: int) -> bool:
  return epoch == config.num_epochs
