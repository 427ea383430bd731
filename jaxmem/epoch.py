"""The epoch: one lane's programs for an epoch and after it, and their compiled forms.

For ONE lane, an epoch is a `lax.scan` of train steps over a fresh permutation
of its training examples, followed by the measures that see each example's
correctness when it was presented (`in_epoch`); after it, the measures due
that epoch (evaluation, critical samples, depth...). `Programs` lifts both
over the run's lanes (jaxmem.execution) and compiles them ahead of time, so
that training time never includes compiling. Only the accumulators of the
measures a program runs go in and out of it.
"""

import functools
import time
from typing import Any

import jax
import jax.numpy as jnp

from jaxmem import lanes
from jaxmem import measures as measures_lib
from jaxmem import steps


def epoch_order(task: steps.Task, lane: lanes.Lane, epoch: jax.Array) -> jax.Array:
  """int32 [S, B]: the examples of each of the epoch's steps (0-based epoch):
  a fresh permutation of the lane's subset from its order key, the remainder
  dropped."""
  steps_, batch = task.steps_per_epoch, task.config.batch_size
  order = jax.random.permutation(jax.random.fold_in(lane.keys["order"], epoch),
                                 lane.subset.shape[0])
  return lane.subset[order[:steps_ * batch]].reshape(steps_, batch)


def train_epoch(task: steps.Task, data: steps.Data, lane: lanes.Lane,
                state: steps.TrainState, epoch: jax.Array
                ) -> tuple[steps.TrainState, dict[str, Any]]:
  """Trains one lane for one epoch (0-based): a lax.scan over its steps.

  Returns:
    The new state, and {"steps": float32 [3] sums over the epoch's steps (see
    steps.train_step), "diverged": the state's divergence step, "presented":
    int8 [N], each example's correctness when it was presented this epoch (1
    or 0; -1 if it was not: held out, or in the dropped remainder), and
    "scores": {name: float32 [N]} the task.presentation_scores of each
    example when it was presented (NaN if it was not)}.
  """
  order = epoch_order(task, lane, epoch)
  state, (sums, seen) = jax.lax.scan(
      functools.partial(steps.train_step, task, data, lane), state, order)
  n, where = data.train_labels.shape[0], order.reshape(-1)
  presented = jnp.full([n], -1, jnp.int8).at[where].set(seen.pop("correct").reshape(-1))
  scores = {k: jnp.full([n], jnp.nan, jnp.float32).at[where].set(v.reshape(-1))
            for k, v in seen.items()}
  return state, dict(steps=sums.sum(axis=0), diverged=state.diverged,
                     presented=presented, scores=scores)


def _update(chosen: list[measures_lib.Measure], ctx: measures_lib.Context,
            accumulators: dict) -> tuple[dict, dict]:
  """Runs each measure's update on its own accumulators; returns them and
  each measure's per-lane sums."""
  accumulators, sums = dict(accumulators), {}
  for m in chosen:
    accumulators[m.name], sums[m.name] = m.update(ctx, accumulators[m.name])
  return accumulators, sums


def one_lane_epoch(task: steps.Task, chosen: list[measures_lib.Measure]):
  """ONE lane's epoch: fn(data, lane, train, accumulators, epoch 0-based) ->
  (train, accumulators, out), `accumulators` those of the in-epoch measures
  only, out = train_epoch's outputs and each in-epoch measure's sums."""
  inside = [m for m in chosen if m.in_epoch]

  def run(data, lane, train, accumulators, epoch):
    train, out = train_epoch(task, data, lane, train, epoch)
    ctx = measures_lib.Context(task, data, lane, train, epoch + 1, out["presented"],
                               out["scores"])
    accumulators, sums = _update(inside, ctx, accumulators)
    return train, accumulators, {**out, **sums}
  return run


def one_lane_after(task: steps.Task, chosen: list[measures_lib.Measure]):
  """ONE lane's measures after an epoch: fn(data, lane, train, accumulators,
  epoch 1-based) -> (accumulators, {name: sums}), `accumulators` theirs only."""

  def run(data, lane, train, accumulators, epoch):
    return _update(chosen, measures_lib.Context(task, data, lane, train, epoch),
                   accumulators)
  return run


def _only(state: steps.State, names) -> dict:
  return {name: state.accumulators[name] for name in names}


class Programs:
  """A run's compiled programs: the epoch, and the measures due after an
  epoch, compiled the first time a combination of them is due."""

  def __init__(self, run, state: steps.State):
    self.run, self.state = run, state
    self.after = [m for m in run.measures if not m.in_epoch]
    self.inside = tuple(m.name for m in run.measures if m.in_epoch)
    start = time.perf_counter()
    fn = run.plan.lift(one_lane_epoch(run.task, list(run.measures)),
                       lane_args=(1, 2, 3))
    self._epoch = jax.jit(fn, donate_argnums=(2, 3)).lower(
        run.data, run.constants, state.train, _only(state, self.inside),
        jnp.int32(0)).compile()
    self._after = {}
    self.compile_s = time.perf_counter() - start

  def epoch(self, state: steps.State, epoch: int) -> tuple[steps.State, dict]:
    """Trains epoch `epoch` (0-based); the in-epoch accumulators go in and out."""
    train, accumulators, out = self._epoch(
        self.run.data, self.run.constants, state.train, _only(state, self.inside),
        jnp.int32(epoch))
    return state.replace(train=train,
                         accumulators={**state.accumulators, **accumulators}), out

  def due(self, epoch: int) -> tuple[str, ...]:
    """The after-epoch measures due after `epoch` (1-based)."""
    return tuple(m.name for m in self.after if m.due(self.run.config, epoch))

  def after_epoch(self, state: steps.State, names: tuple[str, ...], epoch: int
                  ) -> tuple[steps.State, dict]:
    """Runs the measures `names` after `epoch` (1-based), compiling their
    program the first time (its seconds count as compiling, not training)."""
    if names not in self._after:
      start = time.perf_counter()
      chosen = [m for m in self.after if m.name in names]
      fn = self.run.plan.lift(one_lane_after(self.run.task, chosen),
                              lane_args=(1, 2, 3))
      self._after[names] = jax.jit(fn, donate_argnums=(3,)).lower(
          self.run.data, self.run.constants, self.state.train,
          _only(self.state, names), jnp.int32(1)).compile()
      self.compile_s += time.perf_counter() - start
    accumulators, out = self._after[names](
        self.run.data, self.run.constants, state.train, _only(state, names),
        jnp.int32(epoch))
    return state.replace(accumulators={**state.accumulators, **accumulators}), out
