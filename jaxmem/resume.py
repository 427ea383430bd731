"""Progress and resuming: what a run accumulates on the host, and how it continues.

`Progress` holds what the epoch loop gathers (per-example history, divergence,
training time, how far metrics.jsonl has grown); a checkpoint stores it with
the training state, and `resume` puts both back, cutting metrics.jsonl back to
the lines the checkpoint had seen, so that a rerun goes on exactly where the
newest good checkpoint left off.
"""

import hashlib

from absl import logging
import jax
import numpy as np

from jaxmem import errors


class Progress:
  """What the host accumulates over epochs, and what a checkpoint restores."""

  def __init__(self, num_lanes: int, num_train: int, num_test: int,
               num_epochs: int):
    self.epoch = 0
    self.num_epochs = num_epochs
    self.last_rows: list[dict] = []  # metrics.jsonl's rows of the last epoch.
    self.metrics_bytes = 0  # metrics.jsonl's length after the last epoch.
    self._metrics_hash = hashlib.sha256()  # Of those bytes.
    self.elapsed = 0.0  # Training seconds before this process started.
    self.diverged_epoch = np.full(num_lanes, -1, np.int64)
    self.train_pred = np.zeros((num_lanes, num_epochs, num_train), np.int8)
    self.test_pred = np.zeros((num_lanes, num_epochs, num_test), np.int8)
    self.presented = np.zeros((num_lanes, num_epochs, num_train), np.int8)

  def add_rows(self, rows: list[dict], length: int) -> int:
    """Notes an epoch's rows, appended to metrics.jsonl, which is now `length`
    bytes long. Returns the bytes they took."""
    from jaxmem import records  # pylint: disable=g-import-not-at-top
    text = "".join(records.dumps(row) + "\n" for row in rows).encode()
    self._metrics_hash.update(text)
    grown, self.metrics_bytes, self.last_rows = length - self.metrics_bytes, length, rows
    return grown

  def continue_metrics(self, metrics: bytes) -> None:
    """Goes on from metrics.jsonl as a restored checkpoint saw it."""
    self.metrics_bytes, self._metrics_hash = len(metrics), hashlib.sha256(metrics)

  def arrays(self, state, lane, epoch: int | None = None) -> dict:
    e = self.epoch if epoch is None else epoch
    return dict(state=state, lane=lane, train_pred=self.train_pred[:, :e],
                test_pred=self.test_pred[:, :e],
                presented=self.presented[:, :e],
                diverged_epoch=self.diverged_epoch)

  def meta(self) -> dict:
    return dict(last_rows=self.last_rows, elapsed=self.elapsed,
                metrics_bytes=self.metrics_bytes,
                metrics_sha256=self._metrics_hash.hexdigest())

  def restore(self, epoch: int, arrays: dict, meta: dict) -> None:
    """Puts a checkpoint back."""
    self.epoch, self.last_rows, self.elapsed = epoch, meta["last_rows"], meta["elapsed"]
    self.diverged_epoch = np.asarray(arrays["diverged_epoch"])
    self.train_pred[:, :epoch] = arrays["train_pred"]
    self.test_pred[:, :epoch] = arrays["test_pred"]
    self.presented[:, :epoch] = arrays["presented"]


def restore(wd, ckpts, progress, lane, state):
  """Restores the newest usable checkpoint into `progress`.

  Returns:
    (the restored state (on the device), its meta), or None if there is no
    checkpoint.

  Raises:
    UserError: checkpoints exist but none is usable, or the newest usable one
      holds other lane constants.
  """
  host_state, host_lane = jax.device_get((state, lane))

  def like(epoch):
    return progress.arrays(host_state, host_lane, epoch=epoch)
  restored = ckpts.restore(like)
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
  return jax.device_put(arrays["state"]), meta


def resume(wd, ckpts, progress, lane, state):
  """Continues from the newest usable checkpoint; returns the state to train on.

  metrics.jsonl is cut back to the lines that checkpoint had seen (which drops
  a torn last line, and the rows of epochs trained after it).
  """
  restored = restore(wd, ckpts, progress, lane, state)
  if restored is None:
    logging.info("%s has no checkpoint yet: starting from epoch 0", wd.path)
    (wd.path / "metrics.jsonl").unlink(missing_ok=True)
    return state
  restored_state, meta = restored
  wd.cut_metrics(meta["metrics_bytes"], meta["metrics_sha256"])
  with open(wd.path / "metrics.jsonl", "rb") as f:
    progress.continue_metrics(f.read())
  logging.info("resuming %s from the checkpoint of epoch %d", wd.path,
               progress.epoch)
  return restored_state
