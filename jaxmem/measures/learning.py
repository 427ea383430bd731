"""When each training example is learned and settles, from the train evaluation.

Judged at the end of the epochs the train split is evaluated (see
jaxmem.measures.evaluation), on the label the lane trains on:
  first_correct   the first evaluated epoch at whose end it is right (the
                  measure earlier versions called `first_learned`); -1 never;
  settled         the evaluated epoch from which its prediction never changes
                  (the first evaluated epoch if it never changed);
  correct_epoch1  right after epoch 1 (Arpit et al. 2017, Fig. 1), -1 where
                  epoch 1 was not evaluated;
  train_correct_count  how many evaluations it was right; over `evaluations`,
                  the cumulative accuracy that Jiang et al. (2021) compare with
                  C-scores as a learning-speed proxy;
  train_pred, train_correct   its final prediction, and whether it is right.
"""

import jax.numpy as jnp
import numpy as np

from jaxmem.measures import evaluation
from jaxmem.measures.base import Measure


def _init(task):
  n = task.num_train
  return dict(first_correct=jnp.zeros([n], task.epoch_dtype),
              settled=jnp.zeros([n], task.epoch_dtype),
              pred=jnp.zeros([n], task.class_dtype),
              correct=jnp.zeros([n], task.epoch_dtype),
              correct_epoch1=jnp.full([n], -1, jnp.int8),
              evaluations=jnp.zeros([], jnp.int32))


def _update(ctx, acc):
  pred = ctx.evaluate("train")["pred"].astype(acc["pred"].dtype)
  right = pred == ctx.lane.labels
  epoch = ctx.epoch.astype(acc["settled"].dtype)
  changed = (acc["evaluations"] == 0) | (pred != acc["pred"])
  acc = dict(
      first_correct=jnp.where((acc["first_correct"] == 0) & right, epoch,
                              acc["first_correct"]),
      settled=jnp.where(changed, epoch, acc["settled"]),
      pred=pred,
      correct=acc["correct"] + right.astype(acc["correct"].dtype),
      correct_epoch1=jnp.where(ctx.epoch == 1, right.astype(jnp.int8),
                               acc["correct_epoch1"]),
      evaluations=acc["evaluations"] + 1)
  return acc, {}


def _record(acc, task) -> dict:
  first = acc["first_correct"]
  return dict(first_correct=np.where(first > 0, first, -1).astype(task.epoch_index_dtype),
              settled=acc["settled"], correct_epoch1=acc["correct_epoch1"],
              train_correct_count=acc["correct"], train_pred=acc["pred"],
              evaluations=acc["evaluations"])


MEASURES = [Measure("learning", enabled=lambda config: True, due=evaluation.due,
                    init=_init, update=_update, record=_record)]
