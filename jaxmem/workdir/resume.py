"""Progress and resuming: what a run keeps on the host, and how it continues.

`Progress` holds what the epoch loop keeps between epochs: the epoch, each
lane's divergence, the training time so far, the last epoch's metrics rows and
how far metrics.jsonl has grown (its length and SHA-256). Nothing in it grows
with epochs. A checkpoint stores it beside the state (the training state and
the measures' accumulators); `resume` puts both back and cuts metrics.jsonl
back to the bytes that checkpoint had seen, so that a rerun goes on exactly
where the newest good checkpoint left off.
"""

import hashlib

from absl import logging
import jax
import numpy as np

from jaxmem import errors
from jaxmem.runtime import distributed
from jaxmem.workdir import files
from jaxmem.workdir import formats


class Progress:
  """What the host keeps over epochs, and what a checkpoint restores."""

  def __init__(self, num_lanes: int):
    self.epoch = 0
    self.last_rows: list[dict] = []  # metrics.jsonl's rows of the last epoch.
    self.metrics_bytes = 0  # metrics.jsonl's length after the last epoch.
    self._metrics_hash = hashlib.sha256()  # Of those bytes.
    self.elapsed = 0.0  # Training seconds before this process started.
    self.diverged_epoch = np.full(num_lanes, -1, np.int64)

  def add_rows(self, rows: list[dict], length: int) -> int:
    """Notes an epoch's rows, appended to metrics.jsonl, which is now `length`
    bytes long. Returns the bytes they took."""
    text = "".join(files.dumps(row) + "\n" for row in rows).encode()
    self._metrics_hash.update(text)
    grown, self.metrics_bytes, self.last_rows = length - self.metrics_bytes, length, rows
    return grown

  def continue_metrics(self, metrics: bytes) -> None:
    """Goes on from metrics.jsonl as a restored checkpoint saw it."""
    self.metrics_bytes, self._metrics_hash = len(metrics), hashlib.sha256(metrics)

  def meta(self) -> dict:
    return dict(num_lanes=len(self.diverged_epoch), last_rows=self.last_rows,
                elapsed=self.elapsed,
                metrics_bytes=self.metrics_bytes,
                metrics_sha256=self._metrics_hash.hexdigest())

  def restore(self, epoch: int, diverged_epoch: np.ndarray, meta: dict) -> None:
    self.epoch, self.last_rows, self.elapsed = epoch, meta["last_rows"], meta["elapsed"]
    self.diverged_epoch = np.asarray(diverged_epoch, np.int64)


def resume(wd, ckpts, progress, run, written: formats.Format):
  """Continues from the newest usable checkpoint; returns the state to train on.

  metrics.jsonl is cut back to the bytes that checkpoint had seen (which drops
  a torn last line, and the rows of epochs trained after it). A checkpoint of
  an earlier workdir format (`written`) is read under today's array names.

  Raises:
    UserError: checkpoints exist but none is usable (for an earlier format:
      naming the jaxmem that can finish the run), or the newest usable one
      holds other lane constants, or metrics.jsonl does not match it.
  """
  # Each process reads only its own lanes, onto this run's devices.
  restored = ckpts.restore(run.checkpoint_tree(abstract=True), run.num_lanes,
                           sharding=run.plan.sharding, renames=written.renames)
  if restored is None:
    if ckpts.epochs() and written.number != formats.FORMAT:
      raise errors.UserError(formats.cannot_resume(wd.path, written))
    if ckpts.epochs():
      raise errors.UserError(
          f"no usable checkpoint in {wd.checkpoints} (see the warnings above); "
          "pass --overwrite to start afresh")
    logging.info("%s has no checkpoint yet: starting from epoch 0", wd.path)
    if wd.writes:
      (wd.path / "metrics.jsonl").unlink(missing_ok=True)
    return run.state
  epoch, arrays, meta = restored
  if distributed.agree(not _same_lanes(arrays["constants"],
                                       run.constants.replace(images=None),
                                       run.num_lanes)):
    raise errors.UserError(
        f"the checkpoint in {wd.checkpoints} was made with other lane keys, labels "
        "or subsets (another jaxmem version, or a changed pruning score file?); "
        "pass --overwrite to start afresh")
  if wd.writes:
    wd.cut_metrics(meta["metrics_bytes"], meta["metrics_sha256"])
    with open(wd.path / "metrics.jsonl", "rb") as f:
      progress.continue_metrics(f.read())
  progress.restore(epoch, run.host(arrays["diverged_epoch"]), meta)
  logging.info("resuming %s from the checkpoint of epoch %d", wd.path, epoch)
  return run.plan.fill_padding(arrays["state"])


def _same_lanes(restored, built, num_lanes: int) -> bool:
  """Whether this process's lanes of two lane-sharded trees are equal (the
  padding lanes aside)."""
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(built)):
    shards = {s.index[0].start or 0: np.asarray(s.data) for s in b.addressable_shards}
    for s in a.addressable_shards:
      first = s.index[0].start or 0
      rows = max(0, min(s.data.shape[0], num_lanes - first))
      if not np.array_equal(np.asarray(s.data)[:rows], shards[first][:rows]):
        return False
  return True
