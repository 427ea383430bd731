"""Progress and resuming: what a run accumulates on the host, and how it continues.

`Progress` holds what the epoch loop gathers (metrics rows, per-example
history, divergence, training time); a checkpoint stores it with the training
state, and `resume` puts both back so that a rerun goes on exactly where the
newest good checkpoint left off.
"""

from absl import logging
import jax
import numpy as np

from jaxmem import errors


class Progress:
  """What the host accumulates over epochs, and what a checkpoint restores."""

  def __init__(self, num_lanes: int, num_train: int, num_test: int,
               num_epochs: int):
    self.epoch = 0
    self.rows: list[dict] = []
    self.elapsed = 0.0  # Training seconds before this process started.
    self.diverged_epoch = np.full(num_lanes, -1, np.int64)
    self.train_pred = np.zeros((num_lanes, num_epochs, num_train), np.int8)
    self.test_pred = np.zeros((num_lanes, num_epochs, num_test), np.int8)
    self.presented = np.zeros((num_lanes, num_epochs, num_train), np.int8)

  def arrays(self, state, lane) -> dict:
    e = self.epoch
    return dict(state=state, lane=lane, train_pred=self.train_pred[:, :e],
                test_pred=self.test_pred[:, :e],
                presented=self.presented[:, :e],
                diverged_epoch=self.diverged_epoch)

  def meta(self) -> dict:
    return dict(rows=self.rows, elapsed=self.elapsed)

  def restore(self, epoch: int, arrays: dict, meta: dict) -> None:
    self.epoch, self.rows, self.elapsed = epoch, meta["rows"], meta["elapsed"]
    self.diverged_epoch = np.asarray(arrays["diverged_epoch"])
    self.train_pred[:, :epoch] = arrays["train_pred"]
    self.test_pred[:, :epoch] = arrays["test_pred"]
    self.presented[:, :epoch] = arrays["presented"]


def restore(wd, ckpts, progress, lane, state):
  """Restores the newest usable checkpoint into `progress`.

  Returns:
    The restored state (on the device), or None if there is no checkpoint.

  Raises:
    UserError: checkpoints exist but none is usable, or the newest usable one
      holds other lane constants.
  """
  host_state, host_lane = jax.device_get((state, lane))

  def like(epoch):
    progress.epoch = epoch
    return progress.arrays(host_state, host_lane)
  restored = ckpts.restore(like)
  progress.epoch = 0
  if restored is None:
    if ckpts.epochs():
      raise errors.UserError(
          f"no usable checkpoint in {wd.checkpoints} (see the warnings above); "
          "pass --overwrite to start afresh")
    return None
  epoch, arrays, meta = restored
  same = jax.tree.map(np.array_equal, arrays["lane"], host_lane)
  if not all(jax.tree.leaves(same)):
    raise errors.UserError(
        f"the checkpoint in {wd.checkpoints} was made with other lane keys or "
        "labels (another jaxmem version?); pass --overwrite to start afresh")
  progress.restore(epoch, arrays, meta)
  return jax.device_put(arrays["state"])


def resume(wd, ckpts, progress, lane, state):
  """Continues from the newest usable checkpoint; returns the state to train on."""
  restored = restore(wd, ckpts, progress, lane, state)
  if restored is None:
    logging.info("%s has no checkpoint yet: starting from epoch 0", wd.path)
    wd.rewrite_metrics([])
    return state
  wd.rewrite_metrics(progress.rows)
  logging.info("resuming %s from the checkpoint of epoch %d", wd.path,
               progress.epoch)
  return restored
