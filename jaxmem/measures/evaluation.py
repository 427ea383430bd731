"""Evaluation of the train and test splits: losses and accuracies per lane.

Due every `config.eval_every_epochs` epochs and after the last; the metrics
rows of other epochs hold null for these columns. The train split is judged on
the labels each lane trains on, over the examples it trains on (its subset);
`holdout_*` over the training examples it holds out. The test split is judged
on its clean labels; its accumulators keep each lane's final prediction and how
often each test example was right.

Hold-out runs (config.subset_ratio) also keep, after the last epoch, each
lane's margin (the label's logit minus the largest other) and probability of
the label on every training and test example, in evaluation mode:
`train_margin`, `train_prob`, `test_margin`, `test_prob` in examples.npz.
With `in_subset` this is what datamodels (Ilyas et al. 2022) store, and what
Feldman & Zhang's estimators take (jaxmem.analysis.holdout, .influence).
"""

import jax.numpy as jnp
import numpy as np

from jaxmem.measures.base import final
from jaxmem.measures.base import Measure


def due(config, epoch: int) -> bool:
  """Every eval_every_epochs epochs, and after the last."""
  return epoch >= 1 and (epoch % config.eval_every_epochs == 0
                        or epoch == config.num_epochs)


def _train_update(ctx, acc):
  ev = ctx.evaluate("train")
  keys = ("loss_sum", "correct", "correct_clean", "holdout_loss_sum", "holdout_correct")
  return acc, {k: ev[k] for k in keys}


def _train_rates(sums, task) -> dict:
  n, held = task.subset_size, task.num_train - task.subset_size
  none = np.full(len(sums["correct"]), np.nan)
  return dict(train_loss=sums["loss_sum"] / n, train_acc=sums["correct"] / n,
              train_acc_clean=sums["correct_clean"] / n,
              holdout_loss=sums["holdout_loss_sum"] / held if held else none,
              holdout_acc=sums["holdout_correct"] / held if held else none)


def _test_init(task):
  return dict(pred=jnp.zeros([task.num_test], task.class_dtype),
              correct=jnp.zeros([task.num_test], task.epoch_dtype))


def _test_update(ctx, acc):
  ev = ctx.evaluate("test")
  right = ev["pred"] == ctx.data.test_labels
  acc = dict(pred=ev["pred"].astype(acc["pred"].dtype),
             correct=acc["correct"] + right.astype(acc["correct"].dtype))
  return acc, dict(loss_sum=ev["loss_sum"], correct=ev["correct"])


def _test_rates(sums, task) -> dict:
  return dict(test_loss=sums["loss_sum"] / task.num_test,
              test_acc=sums["correct"] / task.num_test)


def _test_record(acc, task) -> dict:
  del task
  return dict(test_pred=acc["pred"], test_correct_count=acc["correct"])


def _outputs_init(task):
  return {f"{split}_{kind}": jnp.full([n], jnp.nan, jnp.float32)
          for split, n in (("train", task.num_train), ("test", task.num_test))
          for kind in ("margin", "prob")}


def _outputs_update(ctx, acc):
  del acc
  return {f"{split}_{kind}": ctx.evaluate(split)[kind]
          for split in ("train", "test") for kind in ("margin", "prob")}, {}


MEASURES = [
    Measure("train_eval", enabled=lambda config: True, due=due,
            init=lambda task: {}, update=_train_update,
            columns=("train_loss", "train_acc", "train_acc_clean", "holdout_loss",
                     "holdout_acc"), rates=_train_rates),
    Measure("test_eval", enabled=lambda config: True, due=due, init=_test_init,
            update=_test_update, columns=("test_loss", "test_acc"),
            rates=_test_rates, record=_test_record),
    Measure("outputs", enabled=lambda config: bool(config.subset_ratio), due=final,
            init=_outputs_init, update=_outputs_update,
            record=lambda acc, task: dict(acc)),
]
