"""Critical samples (Arpit et al. 2017, section 4), searched for on the device.

An example is critical when a point predicted as another class lies within an
L-inf box of radius r around it, in pixel space (images in [0, 1], after any
input corruption, before preprocessing). Arpit et al. find such points with a
Langevin adversarial sample search (their Algorithm 1): from the example,
repeatedly step by `step` along the sign of the gradient, plus Gaussian noise
of scale `noise`, and project back into the box, until the prediction changes
or `iterations` steps have passed. Their defaults for inputs in [0, 1]:
r = 0.3/255, step 0.25/255, noise 0.2/255, 100 iterations. The step goes down
the gradient of the log-probability of the example's predicted class (the
direction that changes the prediction fastest). The critical sample ratio of a
set is the fraction of its examples that are critical: a measure of how
complex the network's decision boundary is around the data.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import preprocess
from jaxmem import steps


def langevin_search(logits_fn: Callable[[jax.Array], jax.Array], x: jax.Array,
                    keys: jax.Array, radius: float, step: float, noise: float,
                    iterations: int) -> jax.Array:
  """Whether each example in `x` is critical.

  Args:
    logits_fn: float [B, ...] -> float [B, C]; rows independent, differentiable.
    x: float [B, ...], the examples.
    keys: uint32 [B, 2], each example's noise key (so an example's search does
      not depend on which others share its batch).
    radius, step, noise: the box's half-width, the signed-gradient step and the
      noise's standard deviation, in units of x.
    iterations: the most steps taken. The loop ends early once every example
      has been found critical (searches already found are frozen, so stopping
      early changes nothing).

  Returns:
    bool [B]: a point of another predicted class was found in the box.
  """
  pred = jnp.argmax(logits_fn(x), axis=-1)

  def log_prob(z):
    logits = logits_fn(z)
    chosen = jnp.take_along_axis(jax.nn.log_softmax(logits), pred[:, None], axis=-1)
    return jnp.sum(chosen), logits

  def cond(carry):
    i, _, found = carry
    return (i < iterations) & ~jnp.all(found)

  def body(carry):
    i, z, found = carry
    grad, logits = jax.grad(log_prob, has_aux=True)(z)
    found = found | (jnp.argmax(logits, axis=-1) != pred)
    draw = lambda k: jax.random.normal(jax.random.fold_in(k, i), z.shape[1:], z.dtype)
    moved = z - step * jnp.sign(grad) + noise * jax.vmap(draw)(keys)
    moved = jnp.clip(moved, x - radius, x + radius)
    frozen = found.reshape((-1,) + (1,) * (z.ndim - 1))
    return i + 1, jnp.where(frozen, z, moved), found

  _, z, found = jax.lax.while_loop(
      cond, body, (jnp.int32(0), x, jnp.zeros(pred.shape, bool)))
  return found | (jnp.argmax(logits_fn(z), axis=-1) != pred)


def sample(num_train: int, count: int) -> np.ndarray:
  """int32 [min(count, N)]: evenly spaced training indices, the same every run."""
  count = min(count, num_train)
  return np.linspace(0, num_train - 1, count).round().astype(np.int32)


def lane_critical(task: steps.Task, data: steps.Data, lane: steps.Lane,
                  state: steps.TrainState, index: jax.Array,
                  key: jax.Array) -> jax.Array:
  """bool [K]: which training examples at `index` (int32 [K]) are critical.

  One lane, in evaluation mode, with the search settings of
  `task.config.critical`; examples go in chunks of eval_batch_size.
  """
  c, k = task.config.critical, index.shape[0]
  size = min(task.config.eval_batch_size, k)
  chunks = -(-k // size)
  variables = steps.variables(state)

  def logits_fn(z):
    return task.model.apply(variables, preprocess.apply(task.config.preprocess, z, None),
                            train=False)

  def chunk(i):
    at = index[jnp.minimum(i, k - 1)]
    x = steps.pixels(task, data, lane, at, "train")
    keys = jax.vmap(lambda a: jax.random.fold_in(key, a))(at)
    return langevin_search(logits_fn, x, keys, c.radius, c.step, c.noise,
                           c.iterations)

  found = jax.lax.map(chunk, jnp.arange(chunks * size).reshape(chunks, size))
  return found.reshape(-1)[:k]


def epoch_count(task: steps.Task, data: steps.Data, lane: steps.Lane,
                state: steps.TrainState, epoch: jax.Array,
                index: jax.Array) -> jax.Array:
  """float32 []: how many of the examples at `index` are critical after `epoch`.

  The search's noise comes from the lane's `critical` stream, the epoch and
  the example's index.
  """
  key = jax.random.fold_in(lane.keys["critical"], epoch)
  return jnp.sum(lane_critical(task, data, lane, state, index, key)).astype(jnp.float32)


def compute(task, data, lane, state, index: np.ndarray, epoch: int) -> np.ndarray:
  """bool [L, K]: which examples at `index` are critical, in every lane.

  Lanes run one after another on the device (as `depth.compute`), with the
  same noise as the measurement during training after `epoch`.
  """
  index = jnp.asarray(index, jnp.int32)

  def one(lane_state):
    one_lane, one_state = lane_state
    key = jax.random.fold_in(one_lane.keys["critical"], epoch)
    return lane_critical(task, data, one_lane, one_state, index, key)
  return np.asarray(jax.jit(lambda l, s: jax.lax.map(one, (l, s)))(lane, state))
