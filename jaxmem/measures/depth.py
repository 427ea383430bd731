"""Prediction depth (Baldock et al. 2021), computed on the device.

At every probed layer a k-NN classifier (k = 30 in the paper) predicts each
training example from the lane's own training examples (its subset, with the
labels it trained on: the support set), leaving the example itself out when it
is one of them. The probed layers are the model's `return_embeddings`, from the
input on, with the last one the softmax output, as the paper probes it, not the
logits. An example's prediction depth is the first layer from which every
probe agrees with the network's final prediction; if the last probe
disagrees, it is the number of probed layers.

No code of Baldock et al.'s is public. Where their paper is silent, choices
differ between reimplementations: devinkwok/nn_example_difficulty compares
the probes with the label, not the network's prediction, and keeps the example
among its own neighbours. jaxmem follows the paper's text.

As a measure: after the last epoch when `config.depth.k` > 0, recorded as
`depth` in examples.npz; `jaxmem analyze` computes it for any other k from
the final checkpoint with the same program.
"""

import jax
import jax.numpy as jnp

from jaxmem import lanes
from jaxmem import steps
from jaxmem.measures.base import Measure
from jaxmem.measures.base import final


def knn_predict(queries: jax.Array, support: jax.Array, labels: jax.Array, k: int,
                num_classes: int, self_index: jax.Array | None = None,
                chunk: int = 512) -> jax.Array:
  """k-NN predictions of `queries` from `support`.

  Args:
    queries: float32 [Q, D].
    support: float32 [S, D].
    labels: int32 [S], the labels the neighbours vote with.
    k: neighbours per vote; ties go to the lowest class.
    num_classes: C.
    self_index: int32 [Q], each query's own row in `support` (left out of its
      neighbours), or -1 if it is not there; None: no query is in `support`.
    chunk: queries per distance block ([chunk, S] floats in memory).

  Returns:
    int32 [Q].
  """
  q = queries.shape[0]
  chunk = min(chunk, q)
  self_index = jnp.full([q], -1, jnp.int32) if self_index is None else self_index
  sq = jnp.sum(support ** 2, axis=-1)

  def block(index):
    valid = index < q
    index = jnp.minimum(index, q - 1)
    x = queries[index]
    d = jnp.sum(x ** 2, axis=-1)[:, None] - 2.0 * x @ support.T + sq[None]
    own = self_index[index]
    d = jnp.where(jnp.arange(support.shape[0])[None] == own[:, None], jnp.inf, d)
    _, neighbours = jax.lax.top_k(-d, k)
    votes = jax.nn.one_hot(labels[neighbours], num_classes).sum(axis=1)
    return jnp.where(valid, jnp.argmax(votes, axis=-1), -1)

  chunks = -(-q // chunk)
  pred = jax.lax.map(block, jnp.arange(chunks * chunk).reshape(chunks, chunk))
  return pred.reshape(-1)[:q].astype(jnp.int32)


def depth_from_agreement(agree: jax.Array) -> jax.Array:
  """int32 [N]: the first layer from which all probes agree; layers if none.

  Args:
    agree: bool [layers, N], whether each layer's probe agrees with the
      network's final prediction.
  """
  suffix_all = jnp.cumprod(agree[::-1].astype(jnp.int32), axis=0)[::-1]
  return (agree.shape[0] - suffix_all.sum(axis=0)).astype(jnp.int32)


def lane_depth(task: steps.Task, data: steps.Data, lane: lanes.Lane,
               state: steps.TrainState, k: int) -> dict[str, jax.Array]:
  """One lane's prediction depth of every training example.

  Returns:
    {"depth": int32 [N], "probe_pred": int32 [layers, N], "pred": int32 [N]}.
  """
  n = data.train_labels.shape[0]
  size = min(task.eval_chunk, n)
  chunks = -(-n // size)
  variables = steps.variables(state)

  def embed(index):
    index = jnp.minimum(index, n - 1)
    x = steps.inputs(task, data, lane, index, "train", None)
    logits, embeddings = steps.forward(task, variables, x, train=False,
                                       return_embeddings=True)
    probes = tuple(embeddings[:-1]) + (jax.nn.softmax(logits),)
    return jnp.argmax(logits, axis=-1), probes

  pred, embeddings = jax.lax.map(embed, jnp.arange(chunks * size).reshape(chunks, size))
  pred = pred.reshape(-1)[:n]
  embeddings = [e.reshape((-1,) + e.shape[2:])[:n] for e in embeddings]
  subset = lane.subset
  own = jnp.full([n], -1, jnp.int32).at[subset].set(
      jnp.arange(subset.shape[0], dtype=jnp.int32))
  labels = lane.labels[subset]
  probes = jnp.stack([knn_predict(e, e[subset], labels, k, task.num_classes, own)
                      for e in embeddings])
  return dict(depth=depth_from_agreement(probes == pred[None]),
              probe_pred=probes, pred=pred.astype(jnp.int32))


def _update(ctx, acc):
  out = lane_depth(ctx.task, ctx.data, ctx.lane, ctx.state, ctx.task.config.depth.k)
  return dict(depth=out["depth"].astype(jnp.int8)), {}


MEASURES = [Measure(
    "depth", enabled=lambda config: config.depth.k > 0, due=final,
    init=lambda task: dict(depth=jnp.full([task.num_train], -1, jnp.int8)),
    update=_update, record=lambda acc, task: dict(depth=acc["depth"]))]
