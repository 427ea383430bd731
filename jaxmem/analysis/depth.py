"""Prediction depth (Baldock et al. 2021), computed on the device.

At every probed layer (the model's `return_embeddings`, from the input to the
logits) a k-NN classifier (k = 30) over the training set's embeddings, with
the labels the lane trained on, predicts each training example from its k
nearest other examples. An example's prediction depth is the first layer from
which every probe agrees with the network's final prediction; if the last
probe disagrees, it is the number of probed layers.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import steps


def knn_predict(embeddings: jax.Array, labels: jax.Array, k: int,
                num_classes: int, chunk: int = 512) -> jax.Array:
  """Leave-one-out k-NN predictions for every row of `embeddings`.

  Args:
    embeddings: float32 [N, D].
    labels: int32 [N], the labels the neighbours vote with.
    k: neighbours per vote (the example itself excluded); ties go to the
      lowest class.
    num_classes: C.
    chunk: queries per distance block ([chunk, N] floats in memory).

  Returns:
    int32 [N].
  """
  n = embeddings.shape[0]
  chunk = min(chunk, n)
  sq = jnp.sum(embeddings ** 2, axis=-1)

  def block(index):
    valid = index < n
    index = jnp.minimum(index, n - 1)
    d = sq[index][:, None] - 2.0 * embeddings[index] @ embeddings.T + sq[None]
    d = d.at[jnp.arange(index.shape[0]), index].set(jnp.inf)
    _, neighbours = jax.lax.top_k(-d, k)
    votes = jax.nn.one_hot(labels[neighbours], num_classes).sum(axis=1)
    return jnp.where(valid, jnp.argmax(votes, axis=-1), -1)

  chunks = -(-n // chunk)
  pred = jax.lax.map(block, jnp.arange(chunks * chunk).reshape(chunks, chunk))
  return pred.reshape(-1)[:n].astype(jnp.int32)


def depth_from_agreement(agree: jax.Array) -> jax.Array:
  """int32 [N]: the first layer from which all probes agree; layers if none.

  Args:
    agree: bool [layers, N], whether each layer's probe agrees with the
      network's final prediction.
  """
  suffix_all = jnp.cumprod(agree[::-1].astype(jnp.int32), axis=0)[::-1]
  return (agree.shape[0] - suffix_all.sum(axis=0)).astype(jnp.int32)


def lane_depth(task: steps.Task, data: steps.Data, lane: steps.Lane,
               state: steps.TrainState, k: int = 30) -> dict[str, jax.Array]:
  """One lane's prediction depth of every training example.

  Returns:
    {"depth": int32 [N], "probe_pred": int32 [layers, N], "pred": int32 [N]}.
  """
  n = data.train_labels.shape[0]
  size = min(task.config.eval_batch_size, n)
  chunks = -(-n // size)
  variables = steps.variables(state)

  def embed(index):
    index = jnp.minimum(index, n - 1)
    x = steps.inputs(task, data, lane, index, "train", None)
    logits, embeddings = task.model.apply(variables, x, train=False,
                                          return_embeddings=True)
    return jnp.argmax(logits, axis=-1), embeddings

  pred, embeddings = jax.lax.map(embed, jnp.arange(chunks * size).reshape(chunks, size))
  pred = pred.reshape(-1)[:n]
  embeddings = [e.reshape((-1,) + e.shape[2:])[:n] for e in embeddings]
  probes = jnp.stack([knn_predict(e, lane.labels, k, task.num_classes)
                      for e in embeddings])
  return dict(depth=depth_from_agreement(probes == pred[None]),
              probe_pred=probes, pred=pred.astype(jnp.int32))


def compute(task, data, lane, state, k: int = 30) -> dict[str, np.ndarray]:
  """Every lane's prediction depths, lanes one after another on the device.

  Args:
    task, data, lane, state: as `jaxmem.train.setup` returns them (lane and
      state with a leading lane axis), e.g. with a checkpoint's state.
    k: neighbours per probe.

  Returns:
    {"depth": int [L, N], "probe_pred": int [L, layers, N], "pred": int [L, N]}.
  """
  one = functools.partial(lane_depth, task, data, k=k)
  out = jax.jit(lambda lanes, states: jax.lax.map(
      lambda ls: one(ls[0], ls[1]), (lanes, states)))(lane, state)
  return jax.device_get(out)
