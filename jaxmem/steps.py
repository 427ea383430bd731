"""One lane's training: its task, state, initialization, train step and evaluation.

Everything here is written for a single training run and knows nothing of the
lane axis; jaxmem.execution lifts it over the lanes in one place, and
jaxmem.epoch strings the steps into an epoch. Sums and counts come out of the
step; rates are computed on the host.
"""

import dataclasses
from typing import Any

import flax.linen as nn
from flax import struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmem import lanes
from jaxmem import optim
from jaxmem.datasets import corruption
from jaxmem.datasets import preprocess
from jaxmem.models import precision


# What the train step can report of each example it presents, beside its
# correctness (float32 each), and the scores made from them.
PRESENTATION = ("margin", "prob", "loss", "entropy")
PRESENTED_BY = ("aum", "data_map", "loss", "entropy")


@dataclasses.dataclass(frozen=True)
class Task:
  """What every lane of a run shares, that the compiler sees as constants, and
  the static sizes the measures are shaped and judged by."""
  config: Any  # The experiment's ConfigDict (read-only here).
  model: nn.Module
  has_batch_norm: bool
  # The classes the lanes train on: the data set's, plus AUM's extra class
  # for threshold samples (config.scores.threshold_samples).
  num_classes: int
  num_train: int  # N, the training examples (those held out by subsets too).
  num_test: int  # M.
  subset_size: int  # The training examples each lane trains on.
  steps_per_epoch: int
  input_kinds: tuple[str, ...]  # Input corruptions present among the lanes.
  # Examples ONE lane evaluates at a time (execution.eval_chunk): memory and
  # speed only.
  eval_chunk: int

  @property
  def presentation_scores(self) -> tuple[str, ...]:
    """The per-presentation values the train step hands out (for the scores
    config.scores.names asks for): margin, prob, loss, entropy; () none."""
    return PRESENTATION if set(self.config.scores.names) & set(PRESENTED_BY) else ()

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


class Data(struct.PyTreeNode):
  """The data set, resident on the device once for all lanes."""
  train_images: jax.Array  # float32 [N, H, W, C]
  train_labels: jax.Array  # int32 [N], clean
  test_images: jax.Array  # float32 [M, H, W, C]
  test_labels: jax.Array  # int32 [M]
  mean: jax.Array  # float32 [C], per-channel mean of the training images
  std: jax.Array  # float32 [C], per-channel std of the training images


class TrainState(struct.PyTreeNode):
  """One lane's training state: everything that changes during training."""
  params: Any
  batch_stats: Any
  opt_state: optax.OptState
  step: jax.Array  # int32 [], steps taken
  # int32 [], the step at which the loss or a gradient became NaN or infinite
  # (the lane is frozen from then on), or -1 while it trains normally.
  diverged: jax.Array


class State(struct.PyTreeNode):
  """A lane's whole state: its training state and its measures' per-example
  accumulators ({measure name: pytree}, see jaxmem.measures), saved and
  restored as one."""
  train: TrainState
  accumulators: dict[str, Any]


def loss_per_example(kind: str, logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Returns float32 [B] losses: cross-entropy, or MSE to +-1 targets (LeCun)."""
  if kind == "cross_entropy":
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  targets = 2.0 * jax.nn.one_hot(labels, logits.shape[-1]) - 1.0
  return jnp.mean((logits - targets) ** 2, axis=-1)


def _tx(task: Task, lane: lanes.Lane) -> optax.GradientTransformation:
  return optim.make(task.config, lane.hparams, task.steps_per_epoch)


def init_state(task: Task, lane: lanes.Lane, image_shape: tuple[int, ...]) -> TrainState:
  """Initializes one lane's parameters, BatchNorm statistics and optimizer."""
  sample = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  variables = task.model.init(
      {"params": lane.keys["init"], "dropout": lane.keys["dropout"]},
      sample, train=False)
  params = variables["params"]
  return TrainState(params=params,
                    batch_stats=variables.get("batch_stats", {}),
                    opt_state=_tx(task, lane).init(params),
                    step=jnp.zeros([], jnp.int32),
                    diverged=jnp.full([], -1, jnp.int32))


def pixels(task: Task, data: Data, lane: lanes.Lane, index: jax.Array,
           split: str) -> jax.Array:
  """float32 [B, H, W, C]: the lane's (corrupted) images at `index`, before
  preprocessing: the space in which pixel-level perturbations are measured."""
  if lane.images is not None:
    return lane.images[split][index]
  images = data.train_images if split == "train" else data.test_images
  return corruption.corrupt_inputs(task.input_kinds, lane.input_code,
                                   lane.keys["corruption"], images[index], index,
                                   split, data.mean, data.std)


def inputs(task: Task, data: Data, lane: lanes.Lane, index: jax.Array, split: str,
           augment_key: jax.Array | None) -> jax.Array:
  """Gathers, corrupts and preprocesses the examples at `index` [B].

  What the lane's model sees: augmented when `augment_key` is given.
  """
  return preprocess.apply(task.config.preprocess,
                          pixels(task, data, lane, index, split), augment_key)


def variables(state: TrainState, params=None) -> dict:
  """The model's variables in `state` (with `params` instead of its own, if
  given), for `apply` in evaluation mode."""
  return _variables(state, state.params if params is None else params)


def forward(task: Task, variables: dict, x: jax.Array, **kwargs) -> Any:
  """The lane's model on preprocessed inputs x [B, ...], in the compute dtype
  of config.dtype; its outputs float32 (jaxmem.models.precision)."""
  return precision.apply(task.model, task.config.dtype, variables, x, **kwargs)


def _variables(state: TrainState, params) -> dict:
  if state.batch_stats:
    return {"params": params, "batch_stats": state.batch_stats}
  return {"params": params}


def per_example(logits: jax.Array, labels: jax.Array, loss: jax.Array
                ) -> dict[str, jax.Array]:
  """What the scores take from one forward pass, float32 [B] each.

  margin: the label's logit minus the largest other logit (on logits, as
  asappresearch/aum does, not on probabilities); prob: the label's softmax
  probability; loss: as given; entropy: of the softmax, in nats.
  """
  logits = logits.astype(jnp.float32)
  own = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
  others = jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), -jnp.inf, logits)
  log_p = jax.nn.log_softmax(logits)
  return dict(margin=own - others.max(axis=-1),
              prob=jnp.exp(jnp.take_along_axis(log_p, labels[:, None], axis=-1)[:, 0]),
              loss=loss, entropy=-jnp.sum(jnp.exp(log_p) * log_p, axis=-1))


def train_step(task: Task, data: Data, lane: lanes.Lane, state: TrainState,
               index: jax.Array) -> tuple[TrainState, tuple[jax.Array, dict]]:
  """One SGD step on the examples at `index` (int32 [B]).

  Returns:
    The new state, and (float32 [3]: the batch's loss sum, its correct count
    on the trained labels and on the clean labels; {"correct": int8 [B],
    whether each example was predicted right on its trained label, and the
    `per_example` values named by task.presentation_scores, float32 [B]}),
    all from the training forward pass (training mode, augmented, before the
    update), as Toneva et al. (2019) count forgetting events, Pleiss et al.
    (2020) margins and Swayamdipta et al. (2020) data maps.
  """
  x = inputs(task, data, lane, index, "train",
              jax.random.fold_in(lane.keys["augment"], state.step))
  labels = lane.labels[index]
  rngs = {"dropout": jax.random.fold_in(lane.keys["dropout"], state.step)}

  def loss_fn(params):
    variables = _variables(state, params)
    if task.has_batch_norm:
      logits, updates = forward(task, variables, x, train=True, rngs=rngs,
                                mutable=["batch_stats"])
    else:
      logits, updates = forward(task, variables, x, train=True, rngs=rngs), {}
    loss = loss_per_example(task.config.loss, logits, labels)
    return loss.mean(), (loss, logits, updates)

  grads, (loss, logits, updates) = jax.grad(loss_fn, has_aux=True)(state.params)
  loss_sum = loss.sum()
  deltas, opt_state = _tx(task, lane).update(grads, state.opt_state, state.params)
  # One reduction per gradient leaf: a NaN or infinity anywhere makes the sum
  # non-finite (so would finite gradients near 1e38, which is divergence too).
  finite = jnp.isfinite(loss_sum + sum(jnp.sum(g) for g in jax.tree.leaves(grads)))
  alive = (state.diverged < 0) & finite
  # A diverged lane keeps its last finite parameters and BatchNorm statistics;
  # `where` per leaf keeps the step free of control flow, so vmapped lanes stay
  # independent. The optimizer state is not frozen: a frozen lane never uses it
  # again, and selecting it every step cost 20% of an MLP step on CPU.
  keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(alive, a, b), new, old)
  new_state = state.replace(
      params=keep(optax.apply_updates(state.params, deltas), state.params),
      batch_stats=keep(updates.get("batch_stats", state.batch_stats),
                       state.batch_stats),
      opt_state=opt_state, step=state.step + 1,
      diverged=jnp.where((state.diverged < 0) & ~finite, state.step,
                         state.diverged))
  pred = jnp.argmax(logits, axis=-1)
  sums = jnp.stack([loss_sum, jnp.sum(pred == labels),
                    jnp.sum(pred == data.train_labels[index])])
  seen = dict(correct=(pred == labels).astype(jnp.int8))
  if task.presentation_scores:
    seen.update(per_example(logits, labels, loss))
  return new_state, (sums.astype(jnp.float32), seen)


def evaluate(task: Task, data: Data, lane: lanes.Lane, state: TrainState,
             split: str) -> dict[str, jax.Array]:
  """Evaluates a whole split in eval mode, in chunks of task.eval_chunk.

  Returns:
    loss_sum and correct (on the trained labels; for the test split these are
    the clean labels) and correct_clean, over the examples the lane trains on
    (its subset; the whole test split); holdout_loss_sum and holdout_correct
    over the training examples outside its subset; all float32 []. pred, int8
    [N], every example's predicted class; float32 [N] (computed only where a
    measure uses them), on the trained label: el2n, its EL2N; margin, the
    label's logit minus the largest other; prob, the label's probability.
  """
  if split == "train":
    clean, trained = data.train_labels, lane.labels
  else:
    clean = trained = data.test_labels
  n = clean.shape[0]
  member = (jnp.zeros([n], bool).at[lane.subset].set(True) if split == "train"
            else jnp.ones([n], bool))
  size = min(task.eval_chunk, n)
  chunks = -(-n // size)

  def chunk(index):
    valid = index < n
    index = jnp.minimum(index, n - 1)
    x = inputs(task, data, lane, index, split, None)
    logits = forward(task, _variables(state, state.params), x, train=False)
    loss = loss_per_example(task.config.loss, logits, trained[index])
    seen = per_example(logits, trained[index], loss)
    return (jnp.where(valid, loss, 0.0), jnp.argmax(logits, axis=-1),
            el2n(logits, trained[index]), seen["margin"], seen["prob"])

  loss, pred, error, margin, prob = jax.lax.map(
      chunk, jnp.arange(chunks * size).reshape(chunks, size))
  loss, pred = loss.reshape(-1)[:n], pred.reshape(-1)[:n]
  right = pred == trained
  count = lambda x: jnp.sum(x).astype(jnp.float32)
  return dict(loss_sum=jnp.sum(jnp.where(member, loss, 0.0)),
              correct=count(right & member),
              correct_clean=count((pred == clean) & member),
              holdout_loss_sum=jnp.sum(jnp.where(member, 0.0, loss)),
              holdout_correct=count(right & ~member),
              pred=pred.astype(jnp.int8), el2n=error.reshape(-1)[:n],
              margin=margin.reshape(-1)[:n], prob=prob.reshape(-1)[:n])


def el2n(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """float32 [B]: the L2 norm of softmax(logits) minus the label's one-hot
  (EL2N, Paul et al. 2021; data_diet's `l2_error`)."""
  probs = jax.nn.softmax(logits.astype(jnp.float32))
  return jnp.linalg.norm(probs - jax.nn.one_hot(labels, logits.shape[-1]), axis=-1)
