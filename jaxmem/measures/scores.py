"""The per-example scores of the data-pruning and label-noise literature.

Each is a measure of its own, on when config.scores.names lists it; all are
per lane and example, on the device, in the checkpoints, and recorded in
examples.npz (float32 [L, N]; NaN for an example the lane never presented).

From each training presentation (training mode, augmented, before the update:
the forward pass the step already makes, as the authors' code takes them):
  aum          AUM, the mean margin over the presentations of epoch 2 on
               (Pleiss et al. 2020; asappresearch/aum skips the first epoch
               "due to variability of random initialization"). The margin is
               on logits: the label's logit minus the largest other, as their
               `AUMCalculator` computes it (a peer computes it on softmax).
               `margin` records the last presentation's. With
               config.scores.threshold_samples, `threshold_sample` marks the
               lane's N/(C+1) examples moved to the extra class C; an example
               is `aum_flagged` when its AUM is below more than 1% of the
               threshold samples' AUMs, the comparison of their
               `generate_aum_details` (AUM_WTR); `aum_threshold` [L] is that
               99th percentile, for reading. Their code draws N // C threshold
               samples where the paper says N/(C+1); this follows the paper.
  data_map     confidence (mean probability of the trained label), variability
               (its population std, numpy's np.std as allenai/cartography
               uses) and correctness over every presentation (Swayamdipta et
               al. 2020). Cartography's correctness is a count of epochs; here
               it is the fraction of presentations, so that lanes with
               different numbers of presentations compare.
  loss, entropy  `mean_loss` and `mean_entropy` (of the softmax, nats).
After the epochs config.scores.el2n_epochs / grand_epochs name (0: at the
initialization), over the whole training split in evaluation mode, on the
labels the lane trains on (mansheej/data_diet `scores.py`):
  el2n         `el2n_e{epoch}`: ||softmax - one-hot||_2 (their `l2_error`);
  grand        `grand_e{epoch}`: the L2 norm of the per-example gradient of
               the run's loss over all parameters (their `grad_norm`, which
               takes cross-entropy: a run with config.loss="mse" gets the
               gradient of the loss it trains with); vmap(grad) over chunks of
               config.scores.grand_chunk examples.
Paul et al. average both over initializations; the difficulty table's means
over lanes do that.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import steps
from jaxmem.measures.base import at_epochs
from jaxmem.measures.base import every_epoch
from jaxmem.measures.base import Measure


def _on(name: str):
  return lambda config: name in tuple(config.scores.names)


def _ratio(total, count):
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


# AUM.

def _aum_init(task):
  n = task.num_train
  acc = dict(sum=jnp.zeros([n], jnp.float32), count=jnp.zeros([n], task.epoch_dtype),
             last=jnp.full([n], jnp.nan, jnp.float32))
  if task.config.scores.threshold_samples:  # Which examples are, for the record.
    acc["threshold"] = jnp.zeros([n], bool)
  return acc


def _aum_update(ctx, acc):
  margin, shown = ctx.scores["margin"], ctx.presented >= 0
  counted = shown & (ctx.epoch >= 2)
  out = dict(sum=acc["sum"] + jnp.where(counted, margin, 0.0),
             count=acc["count"] + counted.astype(acc["count"].dtype),
             last=jnp.where(shown, margin, acc["last"]))
  if "threshold" in acc:
    out["threshold"] = ctx.lane.labels == ctx.task.num_classes - 1
  return out, {}


def flagged(aum: np.ndarray, threshold: np.ndarray) -> tuple[np.ndarray, float]:
  """One lane's AUM flags: (bool [N], the threshold samples' 99th percentile).

  An example other than a threshold sample is flagged when its AUM is below
  more than 1% of the threshold samples' AUMs (asappresearch/aum's AUM_WTR);
  NaN AUMs (never counted) are not flagged.
  """
  samples = np.sort(aum[threshold & np.isfinite(aum)])
  if not len(samples):
    return np.zeros(aum.shape, bool), float("nan")
  above = len(samples) - np.searchsorted(samples, np.nan_to_num(aum, nan=np.inf),
                                         side="right")
  out = (above / len(samples) > 0.01) & ~threshold & np.isfinite(aum)
  return out, float(np.percentile(samples, 99))


def _aum_record(acc, task) -> dict:
  aum = _ratio(acc["sum"], acc["count"])
  out = dict(aum=aum, margin=acc["last"])
  if task.config.scores.threshold_samples:
    found = [flagged(a, t) for a, t in zip(aum, acc["threshold"])]
    out.update(threshold_sample=acc["threshold"],
               aum_flagged=np.array([f for f, _ in found]).reshape(aum.shape),
               aum_threshold=np.array([t for _, t in found], np.float32))
  return out


# Data maps.

def _map_init(task):
  n = task.num_train
  return dict(count=jnp.zeros([n], task.epoch_dtype), mean=jnp.zeros([n], jnp.float32),
              m2=jnp.zeros([n], jnp.float32), correct=jnp.zeros([n], task.epoch_dtype))


def _map_update(ctx, acc):
  """Welford's running mean and sum of squared deviations of the probability."""
  shown, p = ctx.presented >= 0, ctx.scores["prob"]
  count = acc["count"] + shown.astype(acc["count"].dtype)
  delta = jnp.where(shown, p - acc["mean"], 0.0)
  mean = acc["mean"] + delta / jnp.maximum(count, 1).astype(jnp.float32)
  m2 = acc["m2"] + jnp.where(shown, delta * (p - mean), 0.0)
  correct = acc["correct"] + (ctx.presented == 1).astype(acc["correct"].dtype)
  return dict(count=count, mean=mean, m2=m2, correct=correct), {}


def _map_record(acc, task) -> dict:
  del task
  seen = acc["count"] > 0
  nan = lambda x: np.where(seen, x, np.nan).astype(np.float32)
  return dict(confidence=nan(acc["mean"]),
              variability=nan(np.sqrt(np.maximum(_ratio(acc["m2"], acc["count"]), 0))),
              correctness=_ratio(acc["correct"], acc["count"]))


# Mean loss and entropy.

def _mean_measure(name: str) -> Measure:
  def init(task):
    return dict(sum=jnp.zeros([task.num_train], jnp.float32),
                count=jnp.zeros([task.num_train], task.epoch_dtype))

  def update(ctx, acc):
    shown = ctx.presented >= 0
    return dict(sum=acc["sum"] + jnp.where(shown, ctx.scores[name], 0.0),
                count=acc["count"] + shown.astype(acc["count"].dtype)), {}

  return Measure(name, enabled=_on(name), due=every_epoch, init=init, update=update,
                 record=lambda acc, task: {f"mean_{name}": _ratio(acc["sum"], acc["count"])},
                 in_epoch=True)


# EL2N and GraNd, at chosen epochs.

def lane_grand(task: steps.Task, data: steps.Data, lane, state: steps.TrainState
               ) -> jax.Array:
  """float32 [N]: each training example's GraNd, ||grad_params loss||_2 over
  all parameters, in evaluation mode, on the lane's labels."""
  n = task.num_train
  size = min(task.config.scores.grand_chunk, n)
  chunks = -(-n // size)

  def loss(params, x, y):
    logits = steps.forward(task, steps.variables(state, params), x[None], train=False)
    return steps.loss_per_example(task.config.loss, logits, y[None])[0]

  def norm(x, y):
    grads = jax.tree.leaves(jax.grad(loss)(state.params, x, y))
    return jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))

  def chunk(index):
    index = jnp.minimum(index, n - 1)
    x = steps.inputs(task, data, lane, index, "train", None)
    return jax.vmap(norm)(x, lane.labels[index])

  return jax.lax.map(chunk, jnp.arange(chunks * size).reshape(chunks, size)).reshape(-1)[:n]


def _at_epochs_measure(name: str, compute) -> Measure:
  key = f"{name}_epochs"

  def init(task):
    return jnp.full([len(task.config.scores[key]), task.num_train], jnp.nan, jnp.float32)

  def update(ctx, acc):
    row = jnp.argmax(jnp.asarray(tuple(ctx.task.config.scores[key])) == ctx.epoch)
    return acc.at[row].set(compute(ctx)), {}

  def record(acc, task) -> dict:
    return {f"{name}_e{e}": acc[:, k] for k, e in enumerate(task.config.scores[key])}

  return Measure(name, enabled=_on(name), due=at_epochs(key), init=init,
                 update=update, record=record)


MEASURES = [
    Measure("aum", enabled=_on("aum"), due=every_epoch, init=_aum_init,
            update=_aum_update, record=_aum_record, in_epoch=True),
    Measure("data_map", enabled=_on("data_map"), due=every_epoch, init=_map_init,
            update=_map_update, record=_map_record, in_epoch=True),
    _mean_measure("loss"),
    _mean_measure("entropy"),
    _at_epochs_measure("el2n", lambda ctx: ctx.evaluate("train")["el2n"]),
    _at_epochs_measure("grand", lambda ctx: lane_grand(ctx.task, ctx.data, ctx.lane,
                                                       ctx.state)),
]
