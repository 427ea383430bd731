"""Orbax checkpoints of a whole run, verified by checksum on restore.

A checkpoint holds everything a run needs to go on as if it had never
stopped: every lane's training state (parameters, optimizer state, BatchNorm
statistics, step, divergence), every lane's constants (keys, trained labels),
the per-example history so far and the metrics rows written so far.

Orbax restores a data file whose bytes were altered without complaint, so each
checkpoint also stores a SHA-256 of its arrays, computed from the host copy
that is handed to Orbax, and `restore` verifies it. A checkpoint that fails to
restore or to verify is skipped with a warning, falling back to the previous,
and moved to `checkpoints_damaged/` once a good one is found.
"""

import hashlib
import json
import pathlib
import re
import shutil

from absl import logging
import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxmem import errors

# The OS causes Orbax's errors carry in their text (it wraps them in ValueError).
_OS_CAUSES = re.compile(r"No space left on device|Read-only file system|"
                        r"Permission denied|Disk quota exceeded|Input/output error")


def failure(error: BaseException, epoch: int, directory: pathlib.Path) -> errors.UserError:
  """A failed save of checkpoint `epoch` as one line that names the cause."""
  found = _OS_CAUSES.search(str(error))
  cause = found.group(0) if found else errors.cause(error)
  return errors.UserError(f"cannot save the checkpoint of epoch {epoch} in "
                          f"{directory}: {cause}")


def _on_this_host(x) -> jax.ShapeDtypeStruct:
  """A restore target on this process's first device, whatever devices (or
  processes) saved it: checkpoints restore with any device count."""
  return jax.ShapeDtypeStruct(x.shape, x.dtype,
                              sharding=jax.sharding.SingleDeviceSharding(
                                  jax.local_devices()[0]))


def checksum(tree) -> str:
  """SHA-256 over a pytree's leaves: their paths, dtypes, shapes and bytes."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    leaf = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{jax.tree_util.keystr(path)}|{leaf.dtype}|{leaf.shape}|".encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


class Checkpoints:
  """The checkpoints of one workdir: save every few epochs, restore the newest."""

  def __init__(self, directory: pathlib.Path, keep: int, asynchronous: bool = True):
    self.directory = pathlib.Path(directory).absolute()
    # Unusable checkpoints move here, out of Orbax's way but kept for a look.
    self.damaged = self.directory.with_name(self.directory.name + "_damaged")
    self._options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=asynchronous)
    self.manager = self._open()
    self._saving: int | None = None  # The epoch of the save in flight.

  def _open(self) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(self.directory, options=self._options,
                                 item_names=("arrays", "meta"))

  def _set_aside(self, epochs: list[int]) -> None:
    """Moves unusable checkpoints to `damaged`, so new saves can take their place."""
    if not epochs:
      return
    self.manager.close()
    self.damaged.mkdir(parents=True, exist_ok=True)
    for epoch in epochs:
      target = self.damaged / str(epoch)
      shutil.rmtree(target, ignore_errors=True)
      shutil.move(str(self.directory / str(epoch)), target)
    self.manager = self._open()

  def save(self, epoch: int, arrays, meta: dict) -> None:
    """Starts saving `arrays` (a pytree of jax and numpy arrays) and `meta`.

    The save runs in the background where Orbax can. Orbax copies device
    arrays to the host before `save` returns (its blocking part), so training
    may donate their buffers at once; numpy leaves and `meta` are copied here,
    so that later changes to the caller's arrays and lists stay out of this
    checkpoint. The checksum is taken from the same bytes.
    """
    arrays = jax.tree.map(lambda x: np.array(x) if isinstance(x, np.ndarray) else x,
                          arrays)
    meta = json.loads(json.dumps(meta))
    meta.update(epoch=epoch, checksum=checksum(arrays))
    self.check()
    self._saving = epoch
    try:
      self.manager.save(epoch, args=ocp.args.Composite(
          arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta)),
                        force=True)
    except Exception as e:  # pylint: disable=broad-except
      raise failure(e, epoch, self.directory) from None

  def check(self) -> None:
    """Raises UserError at once if a background save has failed."""
    try:
      self.manager.check_for_errors()
    except Exception as e:  # pylint: disable=broad-except
      raise failure(e, self._saving, self.directory) from None

  def saving(self) -> bool:
    """Whether a background save is still being written."""
    return bool(self.manager.is_saving_in_progress())

  def epochs(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def restore(self, like) -> tuple[int, object, dict] | None:
    """Restores the newest checkpoint that loads and verifies.

    Args:
      like: a function of the epoch returning a pytree with the structure,
        shapes and dtypes of that checkpoint's arrays (arrays or
        jax.ShapeDtypeStructs).

    Returns:
      (epoch, arrays, meta) or None if no checkpoint is usable; each one
      skipped is logged with the reason.
    """
    unusable = []
    for epoch in reversed(self.epochs()):
      try:
        abstract = jax.tree.map(_on_this_host, like(epoch))
        got = self.manager.restore(epoch, args=ocp.args.Composite(
            arrays=ocp.args.StandardRestore(abstract),
            meta=ocp.args.JsonRestore()))
        arrays = jax.device_get(got["arrays"])
        meta = got["meta"]
        if checksum(arrays) != meta.get("checksum"):
          raise ValueError("checksum mismatch: its bytes were altered")
        self._set_aside(unusable)
        return epoch, arrays, meta
      except Exception as e:  # pylint: disable=broad-except
        unusable.append(epoch)
        logging.warning("checkpoint of epoch %d in %s is unusable (%s: %s); "
                        "falling back to the previous one, and moving it to %s",
                        epoch, self.directory, type(e).__name__,
                        " ".join(str(e).split())[:300], self.damaged)
    return None

  def read(self, epoch: int) -> tuple[object, dict]:
    """Reads checkpoint `epoch` as saved (numpy arrays), unverified."""
    folder = self.directory / str(epoch)
    reader = ocp.PyTreeCheckpointer()
    saved = reader.metadata(folder / "arrays").item_metadata.tree
    arrays = reader.restore(folder / "arrays", restore_args=jax.tree.map(
        lambda _: ocp.RestoreArgs(restore_type=np.ndarray), saved))
    meta = self.manager.restore(epoch, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))["meta"]
    return arrays, meta

  def wait(self) -> None:
    """Blocks until background saves are on disk; raises UserError if one failed."""
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      raise failure(e, self._saving, self.directory) from None
    self.check()

  def close(self) -> None:
    """Closes the manager, waiting for a save in flight; never raises for it
    (a failed save has been reported, or is a temporary folder the next start
    removes)."""
    try:
      self.manager.close()
    except Exception:  # pylint: disable=broad-except
      pass
