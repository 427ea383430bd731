"""Orbax checkpoints of a whole run, verified by checksum on restore.

A checkpoint holds everything a run needs to go on as if it had never
stopped: every lane's training state (parameters, optimizer state, BatchNorm
statistics, step, divergence) and per-example accumulators, every lane's
constants (keys, trained labels, subset), and the host's progress (the last
metrics rows, metrics.jsonl's length and SHA-256, the training time so far).
The per-epoch history is not in it: it has its own store (jaxmem.workdir.history).

Orbax restores a data file whose bytes were altered without complaint, so each
checkpoint also stores a SHA-256 of its arrays, computed from the host copy
that is handed to Orbax, and `restore` verifies it. A checkpoint that fails to
restore or to verify is skipped with a warning, falling back to the previous,
and moved to `checkpoints_damaged/` once a good one is found.
"""

import hashlib
import json
import logging as std_logging
import pathlib
import re
import shutil

from absl import logging
import jax
import numpy as np

from jaxmem import errors
from jaxmem.runtime import distributed

# The OS causes Orbax's errors carry in their text (it wraps them in ValueError).
_OS_CAUSES = re.compile(r"No space left on device|Read-only file system|"
                        r"Permission denied|Disk quota exceeded|Input/output error")


def failure(error: BaseException, epoch: int, directory: pathlib.Path) -> errors.UserError:
  """A failed save of checkpoint `epoch` as one line that names the cause."""
  found = _OS_CAUSES.search(str(error))
  cause = found.group(0) if found else errors.cause(error)
  return errors.UserError(f"cannot save the checkpoint of epoch {epoch} in "
                          f"{directory}: {cause}")


def checksum(tree) -> str:
  """SHA-256 over a pytree's leaves: their paths, dtypes, shapes and bytes."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    leaf = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{jax.tree_util.keystr(path)}|{leaf.dtype}|{leaf.shape}|".encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def _sharded(leaf) -> bool:
  return isinstance(leaf, jax.Array) and not leaf.is_fully_replicated


def _rows(leaf):
  """(first lane, host block) of each part of a leaf this process holds."""
  if _sharded(leaf):
    for shard in leaf.addressable_shards:
      yield (shard.index[0].start or 0), np.asarray(shard.data)
  else:
    yield 0, np.asarray(leaf)


def _key(path) -> tuple[str, ...]:
  """A leaf's path by names and indices only: Orbax saves NamedTuples and
  dataclasses as dicts and tuples as lists."""
  return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))))
               for k in path)


def lane_checksums(tree, num_lanes: int) -> list[str]:
  """SHA-256 of each lane's slice of every leaf (all leaves carry the lane
  axis first), the same whichever devices and processes hold the lanes, so
  that a checkpoint verifies when restored with another layout. Each process
  hashes the lanes it holds; the digests are gathered to every process."""
  digests = {}
  leaves = sorted(((_key(path), leaf)
                   for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]),
                 key=lambda item: item[0])
  # A lane's digest runs over all its leaves, so a process hashes only the
  # lanes of its shards (host leaves included); with no shards, all lanes.
  owned = {first + row for _, leaf in leaves if _sharded(leaf)
           for first, block in _rows(leaf) for row in range(block.shape[0])}
  owned = owned or set(range(num_lanes))
  for key, leaf in leaves:
    name = "/".join(key)
    for first, block in _rows(leaf):
      for row in range(block.shape[0]):
        lane = first + row
        if lane < num_lanes and lane in owned:
          value = np.ascontiguousarray(block[row])
          digests.setdefault(lane, hashlib.sha256()).update(
              f"{name}|{value.dtype}|{value.shape}|".encode() + value.tobytes())
  table = np.zeros((num_lanes, 32), np.uint8)
  for lane, digest in digests.items():
    table[lane] = np.frombuffer(digest.digest(), np.uint8)
  table = distributed.combine_disjoint(table)
  return [bytes(row).hex() for row in table]


def _renamed(key: tuple[str, ...], renames: dict) -> tuple[str, ...]:
  """A leaf's path with an older format's prefix replaced by today's."""
  for old, new in renames.items():
    if key[:len(old)] == old:
      return new + key[len(old):]
  return key


def _as_expected(restored, expected, renames: dict | None = None):
  """The restored leaves in the expected tree's structure, their paths renamed
  from an older format's (`renames`: old prefix -> new); raises ValueError
  if they differ in structure, dtypes or shapes past the lane axis."""
  got = {_renamed(_key(p), renames or {}): leaf
         for p, leaf in jax.tree_util.tree_flatten_with_path(restored)[0]}
  want, treedef = jax.tree_util.tree_flatten_with_path(expected)
  if sorted(got) != sorted(_key(p) for p, _ in want):
    raise ValueError("another structure of arrays (another jaxmem version?)")
  leaves = []
  for path, e in want:
    r = got[_key(path)]
    if r.shape[1:] != tuple(e.shape[1:]) or np.dtype(r.dtype) != np.dtype(e.dtype):
      raise ValueError(f"an array of shape {r.shape} {r.dtype} where "
                       f"{tuple(e.shape)} {np.dtype(e.dtype)} was expected")
    leaves.append(r)
  return jax.tree.unflatten(treedef, leaves)


def _orbax():
  """orbax.checkpoint, imported when a checkpoint is first opened."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  return ocp


class Checkpoints:
  """The checkpoints of one workdir: save every few epochs, restore the newest."""

  def __init__(self, directory: pathlib.Path, keep: int, asynchronous: bool = True):
    self.directory = pathlib.Path(directory).absolute()
    # Unusable checkpoints move here, out of Orbax's way but kept for a look.
    self.damaged = self.directory.with_name(self.directory.name + "_damaged")
    self.keep, self.asynchronous = keep, asynchronous
    self._manager = None  # Opened at first use: see `manager`.
    self._saving: int | None = None  # The epoch of the save in flight.

  @property
  def manager(self):
    """Orbax's CheckpointManager, opened (and Orbax imported, 0.2-0.4 s) at
    first use: a run starts compiling before that, and a run that never
    saves or restores never pays it."""
    if self._manager is None:
      self._manager = self._open()
    return self._manager

  def _open(self):
    ocp = _orbax()
    return ocp.CheckpointManager(
        self.directory, item_names=("arrays", "meta"),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=self.keep, create=True,
            enable_async_checkpointing=self.asynchronous))

  def _set_aside(self, epochs: list[int]) -> None:
    """Moves unusable checkpoints to `damaged`, so new saves can take their place."""
    if not epochs:
      return
    self.close()
    if distributed.is_primary():  # Every process found the same ones unusable.
      self.damaged.mkdir(parents=True, exist_ok=True)
      for epoch in epochs:
        target = self.damaged / str(epoch)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(self.directory / str(epoch)), target)
    distributed.barrier("jaxmem_set_aside")

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
    lanes = meta.setdefault("num_lanes", jax.tree.leaves(arrays)[0].shape[0])
    meta.update(epoch=epoch, lane_checksums=lane_checksums(arrays, lanes))
    self.check()
    self._saving = epoch
    args = _orbax().args
    try:
      self.manager.save(epoch, args=args.Composite(
          arrays=args.StandardSave(arrays), meta=args.JsonSave(meta)), force=True)
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

  def restore(self, expected, num_lanes: int, sharding=None, renames=None
              ) -> tuple[int, object, dict] | None:
    """Restores the newest checkpoint that loads and verifies.

    Whatever the devices or processes that saved it (its arrays may carry
    another padding of the lane axis), it restores onto this run's layout:
    with `sharding`, each process reads only its own lanes, as global arrays
    of `expected`'s padded lane count (padding lanes zero); without, the
    whole checkpoint as host numpy of the first `num_lanes` lanes.

    Args:
      expected: a pytree with the structure, dtypes and shapes of the
        checkpoint's arrays (the lane axis first, padded for `sharding`).
      num_lanes: the run's lanes.
      sharding: the lane axis's sharding over the run's devices, or None.
      renames: array paths of the format that saved it -> today's
        (jaxmem.workdir.formats); the checksum is of the paths as saved.

    Returns:
      (epoch, arrays, meta) or None if no checkpoint is usable; each one
      skipped is logged with the reason.
    """
    unusable = []
    for epoch in reversed(self.epochs()):
      try:
        arrays, meta = self.read(epoch, expected, sharding)
        if meta.get("num_lanes") != num_lanes:
          raise ValueError(f"it holds {meta.get('num_lanes')} lanes, not {num_lanes}")
        if sharding is None:
          arrays = jax.tree.map(lambda x: x[:num_lanes], arrays)
        converted = _as_expected(arrays, expected, renames)
        if lane_checksums(arrays, num_lanes) != meta.get("lane_checksums"):
          raise ValueError("checksum mismatch: its bytes were altered")
        arrays = converted
        self._set_aside(unusable)
        return epoch, arrays, meta
      except Exception as e:  # pylint: disable=broad-except
        unusable.append(epoch)
        logging.warning("checkpoint of epoch %d in %s is unusable (%s: %s); "
                        "falling back to the previous one, and moving it to %s",
                        epoch, self.directory, type(e).__name__,
                        " ".join(str(e).split())[:300], self.damaged)
    return None

  def read(self, epoch: int, expected=None, sharding=None) -> tuple[object, dict]:
    """Reads checkpoint `epoch` unverified: as saved (numpy), or with
    `sharding` each process its own lanes of `expected`'s lane count."""
    folder = self.directory / str(epoch)
    ocp = _orbax()
    reader = ocp.PyTreeCheckpointer()
    # Read on its own, the item warns that the manager's metadata file is
    # not inside it; that file is one level up, where it belongs.
    logger = logging.get_absl_logger()
    quiet = lambda record: record.levelno >= std_logging.ERROR  # Levels untouched.
    logger.addFilter(quiet)
    try:
      saved = reader.metadata(folder / "arrays").item_metadata.tree
      if sharding is None:
        args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), saved)
      else:
        lanes = jax.tree.leaves(expected)[0].shape[0]
        args = jax.tree.map(lambda m: ocp.ArrayRestoreArgs(
            sharding=sharding, global_shape=(lanes,) + tuple(m.shape[1:]),
            strict=False), saved)
      arrays = reader.restore(folder / "arrays", restore_args=args)
    finally:
      logger.removeFilter(quiet)
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
    manager, self._manager = self._manager, None
    if manager is None:
      return
    try:
      manager.close()
    except Exception:  # pylint: disable=broad-except
      pass
