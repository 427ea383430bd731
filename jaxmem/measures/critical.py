"""Critical samples (Arpit et al. 2017, section 4), searched for on the device.

An example is critical when a point predicted as another class lies within an
L-inf box of radius r around it, in pixel space (images in [0, 1], after any
input corruption, before preprocessing). Arpit et al. find such points with a
Langevin adversarial sample search: from the example, repeatedly step by
`step` along the sign of the gradient, plus Gaussian noise of scale `noise`,
and project back into the box, until the prediction changes or `iterations`
steps have passed. Their defaults for inputs in [0, 1]: r = 0.3/255, step
0.25/255, noise 0.2/255, 100 iterations. The step goes down the gradient of
the log-probability of the example's own predicted class (Arpit's code uses
the model's prediction, not the label, as the reference). The critical sample
ratio of a set is the fraction of its examples that are critical.

How this differs from Arpit's code (the `lass` search as published with
xingjunm/dimensionality-driven-learning, "code from Devansh Arpit"):
  * Each example's search is its own: it stops (is frozen) once found, and its
    noise comes from a key of its own, so the result does not depend on which
    examples are searched with it. Arpit's code instead stops the WHOLE search
    once an iteration finds fewer than 20 new critical samples; set
    `config.critical.stop_below=20` for that rule (then an example's result
    does depend on the set searched).
  * Arpit's code searches 500 random test examples; jaxmem searches
    `critical.examples` evenly spaced training examples, the same in every run.

As a measure: every `critical.every_epochs` epochs and after the last, in every
lane, with `critical_ratio` in metrics.jsonl and each searched example's last
verdict (`critical`: 1, 0, -1 not searched) in examples.npz.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import lanes
from jaxmem import steps
from jaxmem.datasets import preprocess
from jaxmem.measures.base import Measure


def langevin_search(logits_fn: Callable[[jax.Array], jax.Array], x: jax.Array,
                    keys: jax.Array, radius: float, step: float, noise: float,
                    iterations: int, stop_below: int = 0,
                    chunk: int | None = None) -> jax.Array:
  """Whether each example in `x` is critical.

  Args:
    logits_fn: float [B, ...] -> float [B, C]; rows independent, differentiable.
    x: float [K, ...], the examples.
    keys: uint32 [K, 2], each example's noise key (so an example's search does
      not depend on which others are searched with it).
    radius, step, noise: the box's half-width, the signed-gradient step and the
      noise's standard deviation, in units of x.
    iterations: the most steps taken. The loop ends early once every example
      has been found critical (searches already found are frozen, so stopping
      early changes nothing).
    stop_below: if > 0, Arpit's rule: stop every search once an iteration
      finds fewer than this many new critical examples.
    chunk: examples per logits_fn call (memory only); default all.

  Returns:
    bool [K]: a point of another predicted class was found in the box.
  """
  k = x.shape[0]
  size = min(chunk or k, k)
  chunks = -(-k // size)
  index = jnp.minimum(jnp.arange(chunks * size), k - 1).reshape(chunks, size)
  blocks = lambda a: a[index]  # [chunks, size, ...]
  unblock = lambda a: a.reshape((-1,) + a.shape[2:])[:k]
  xb, keys_b = blocks(x), blocks(keys)
  pred = jax.lax.map(lambda z: jnp.argmax(logits_fn(z), axis=-1), xb)

  def log_prob(z, p):
    logits = logits_fn(z)
    chosen = jnp.take_along_axis(jax.nn.log_softmax(logits), p[:, None], axis=-1)
    return jnp.sum(chosen), logits

  def move(i, args):
    z, x0, keys_c, p, found = args
    grad, logits = jax.grad(log_prob, has_aux=True)(z, p)
    found = found | (jnp.argmax(logits, axis=-1) != p)
    draw = lambda key: jax.random.normal(jax.random.fold_in(key, i), z.shape[1:],
                                         z.dtype)
    moved = z - step * jnp.sign(grad) + noise * jax.vmap(draw)(keys_c)
    moved = jnp.clip(moved, x0 - radius, x0 + radius)
    frozen = found.reshape((-1,) + (1,) * (z.ndim - 1))
    return jnp.where(frozen, z, moved), found

  def cond(carry):
    i, _, found, new = carry
    going = (i < iterations) & ~jnp.all(found)
    return going & ((stop_below <= 0) | (i == 0) | (new >= stop_below))

  def body(carry):
    i, z, found, _ = carry
    z2, found2 = jax.lax.map(lambda a: move(i, a), (z, xb, keys_b, pred, found))
    return i + 1, z2, found2, jnp.sum(found2 & ~found)

  _, z, found, _ = jax.lax.while_loop(
      cond, body, (jnp.int32(0), xb, jnp.zeros(pred.shape, bool), jnp.int32(0)))
  last = jax.lax.map(lambda a: jnp.argmax(logits_fn(a[0]), axis=-1) != a[1], (z, pred))
  return unblock(found | last)


def sample(num_train: int, count: int) -> np.ndarray:
  """int32 [min(count, N)]: evenly spaced training indices, the same every run."""
  count = min(count, num_train)
  return np.linspace(0, num_train - 1, count).round().astype(np.int32)


def lane_critical(task: steps.Task, data: steps.Data, lane: lanes.Lane,
                  state: steps.TrainState, index: jax.Array,
                  key: jax.Array) -> jax.Array:
  """bool [K]: which training examples at `index` (int32 [K]) are critical.

  One lane, in evaluation mode, with the search settings of
  `task.config.critical`; examples go in chunks of task.eval_chunk.
  """
  c = task.config.critical
  variables = steps.variables(state)

  def logits_fn(z):
    return steps.forward(task, variables,
                         preprocess.apply(task.config.preprocess, z, None), train=False)

  x = steps.pixels(task, data, lane, index, "train")
  keys = jax.vmap(lambda a: jax.random.fold_in(key, a))(index)
  return langevin_search(logits_fn, x, keys, c.radius, c.step, c.noise,
                         c.iterations, c.stop_below, task.eval_chunk)


def search_key(lane: lanes.Lane, epoch) -> jax.Array:
  """The key of the search after `epoch` (the lane's critical stream)."""
  return jax.random.fold_in(lane.keys["critical"], epoch)


def _due(config, epoch: int) -> bool:
  every = config.critical.every_epochs
  return bool(every) and epoch >= 1 and (epoch % every == 0 or epoch == config.num_epochs)


def _init(task):
  return dict(critical=jnp.full([task.num_train], -1, jnp.int8))


def _update(ctx, acc):
  index = jnp.asarray(sample(ctx.data.train_labels.shape[0],
                             ctx.task.config.critical.examples))
  found = lane_critical(ctx.task, ctx.data, ctx.lane, ctx.state, index,
                        search_key(ctx.lane, ctx.epoch))
  return (dict(critical=acc["critical"].at[index].set(found.astype(jnp.int8))),
          dict(count=jnp.sum(found).astype(jnp.float32)))


def _rates(sums, task) -> dict:
  searched = len(sample(task.num_train, task.config.critical.examples))
  return dict(critical_ratio=sums["count"] / searched)


MEASURES = [Measure("critical", enabled=lambda config: config.critical.every_epochs > 0,
                    due=_due, init=_init, update=_update, columns=("critical_ratio",),
                    rates=_rates, record=lambda acc, task: dict(critical=acc["critical"]))]
