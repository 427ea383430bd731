"""A run's compiled programs: the epoch (one lax.scan, or its steps driven
from the host) and the measures due after an epoch.

Each is a one-lane program from jaxmem.measures, lifted over the lanes by the
run's plan (jaxmem.execution) and compiled ahead of time, so that training
time never includes compiling.
"""

import time

import jax
import jax.numpy as jnp

from jaxmem import measures as measures_lib


class Programs:
  """The run's compiled programs: the epoch, and the measures due after an
  epoch, compiled the first time a combination of measures is due."""

  def __init__(self, the_run, state):
    self.run, self.state = the_run, state
    self.after = [m for m in the_run.measures if not m.in_epoch]
    self.inside = measures_lib.in_epoch_names(list(the_run.measures))
    start = time.perf_counter()
    records = self.records(state, self.inside)
    if the_run.plan.epoch_driver == "host":
      self._host_driven(the_run, state, records)
    else:
      fn = the_run.plan.lift(measures_lib.epoch_program(the_run.task,
                                                        list(the_run.measures)),
                             lane_args=(1, 2, 3))
      self.epoch_fn = jax.jit(fn, donate_argnums=(2, 3)).lower(
          the_run.data, the_run.lane, state.train, records, jnp.int32(0)).compile()
    self._after = {}
    self.compile_s = time.perf_counter() - start

  def _host_driven(self, the_run, state, records) -> None:
    """Compiles the epoch as its steps, each a program of its own, driven
    from the host with the training state donated (config.epoch_driver)."""
    plan, lane, data, zero = the_run.plan, the_run.lane, the_run.data, jnp.int32(0)
    order_fn, step_fn, finish_fn = measures_lib.host_driven_programs(
        the_run.task, list(the_run.measures))
    order_fn = jax.jit(plan.lift(order_fn, lane_args=(0,)))
    step_fn = jax.jit(plan.lift(step_fn, lane_args=(1, 2, 3)), donate_argnums=(2,))
    finish_fn = jax.jit(plan.lift(finish_fn, lane_args=(1, 2, 3, 4, 5, 6)),
                        donate_argnums=(3,))
    order = jax.eval_shape(order_fn, lane, zero)  # [L, S, B]
    index = jax.ShapeDtypeStruct(order.shape[:1] + order.shape[2:], order.dtype)
    _, (step_sums, step_correct) = jax.eval_shape(step_fn, data, lane, state.train,
                                                  index)
    stacked = lambda x: jax.ShapeDtypeStruct(x.shape[:1] + order.shape[1:2] + x.shape[1:],
                                             x.dtype)
    self._order = order_fn.lower(lane, zero).compile()
    self._step = step_fn.lower(data, lane, state.train, index).compile()
    self._finish = finish_fn.lower(data, lane, state.train, records, order,
                                   stacked(step_sums), stacked(step_correct),
                                   zero).compile()

    def epoch_fn(data, lane, train, records, epoch):
      order = self._order(lane, epoch)
      sums, correct = [], []
      for s in range(order.shape[1]):
        train, (step_sums, step_correct) = self._step(data, lane, train, order[:, s])
        sums.append(step_sums)
        correct.append(step_correct)
      records, out = self._finish(data, lane, train, records, order,
                                  jnp.stack(sums, 1), jnp.stack(correct, 1), epoch)
      return train, records, out
    self.epoch_fn = epoch_fn

  @staticmethod
  def records(state, names) -> dict:
    return {name: state.records[name] for name in names}

  def epoch(self, state, epoch: int):
    """Trains an epoch; the in-epoch measures' accumulators go in and out."""
    train, records, out = self.epoch_fn(self.run.data, self.run.lane, state.train,
                                        self.records(state, self.inside),
                                        jnp.int32(epoch))
    return state.replace(train=train, records={**state.records, **records}), out

  def due(self, epoch: int) -> tuple[str, ...]:
    """The after-epoch measures due after `epoch` (1-based)."""
    return tuple(m.name for m in self.after if m.due(self.run.config, epoch))

  def compile_after(self, names: tuple[str, ...]) -> None:
    """Compiles the program of these after-epoch measures, once."""
    if names not in self._after:
      start = time.perf_counter()
      chosen = [m for m in self.after if m.name in names]
      fn = self.run.plan.lift(measures_lib.after_program(self.run.task, chosen),
                              lane_args=(1, 2, 3))
      self._after[names] = jax.jit(fn, donate_argnums=(3,)).lower(
          self.run.data, self.run.lane, self.state.train,
          self.records(self.state, names), jnp.int32(1)).compile()
      self.compile_s += time.perf_counter() - start

  def after_epoch(self, state, names: tuple[str, ...], epoch: int):
    """Runs the measures `names` after `epoch` (1-based); only their
    accumulators go in and out."""
    records, out = self._after[names](self.run.data, self.run.lane, state.train,
                                      self.records(state, names), jnp.int32(epoch))
    return state.replace(records={**state.records, **records}), out
