"""The workdir contract: what a run writes, written so that nothing is ever torn.

A run's folder explains itself:
  jaxmem.json    the marker, written first: the run's id, jaxmem's version and
                 the workdir format (jaxmem.workdir.ownership, .formats);
                 jaxmem.lock names the process writing it.
  config.json    the full config, every lane's identity, the randomness, the
                 data's source, the jaxmem and library versions, the workdir
                 format and the devices.
  status.json    {"status": "running" | "done" | "failed" | "preempted", ...}.
  metrics.jsonl  one JSON object per lane per epoch.
  examples.npz   per-example records, lane x example (jaxmem.measures).
  summary.json   final numbers per lane, mean +- std per grid point.
  checkpoints/   Orbax checkpoints (jaxmem.workdir.checkpoint).
  history/       the optional per-epoch history (jaxmem.workdir.history).
  tensorboard/   optional TensorBoard curves (jaxmem.workdir.tensorboard).
  analysis/      written by `jaxmem analyze`; report/ by `jaxmem report`.
Every file except metrics.jsonl is replaced atomically (temporary file, then
rename); metrics.jsonl grows by whole lines written in one call, and a failed
append is cut back to the lines before it.

jaxmem only ever deletes what it wrote: the files named here, its own
checkpoint folders and, in analysis/ and report/, the files their manifests
list. Anything else in a workdir is left alone.
"""

import datetime
import json
import os
import pathlib
import re
import tempfile
from typing import Iterable
import zipfile

import numpy as np

from jaxmem import errors
from jaxmem.workdir import ownership

FILES = ("config.json", "status.json", "metrics.jsonl", "examples.npz",
         "summary.json")
# Wholly jaxmem's (under a marker).
FOLDERS = ("checkpoints", "checkpoints_damaged", "history", "tensorboard")
DERIVED = ("analysis", "report")  # Hold a manifest of what jaxmem wrote there.
MANIFEST = ".jaxmem-files.json"
STATUSES = ("running", "done", "failed", "preempted")
_UMASK = os.umask(0o022)
os.umask(_UMASK)
TEMPORARY = re.compile(r"^\.(%s)\..+" % "|".join(re.escape(n) for n in FILES))


def _default(obj):
  """JSON encoder for numpy scalars and arrays, tuples come out as lists."""
  if isinstance(obj, np.generic):
    return obj.item()
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  return str(obj)


def dumps(obj) -> str:
  return json.dumps(obj, default=_default, sort_keys=False)


def _named(error: OSError, path) -> OSError:
  """The same OS error, naming `path` if it names no file."""
  if error.filename is None:
    return OSError(error.errno, error.strerror, str(path))
  return error


def atomic_write(path: pathlib.Path, data: bytes) -> None:
  """Writes `data` to `path` so that readers see the old file or the new one."""
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    os.fchmod(fd, 0o666 & ~_UMASK)  # As open() would make it, not mkstemp's 0600.
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise _named(e, path) from None
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def write_owned(folder: pathlib.Path, name: str, data: bytes) -> pathlib.Path:
  """Writes folder/name atomically and lists it in the folder's manifest."""
  folder = pathlib.Path(folder)
  manifest = folder / MANIFEST
  try:
    listed = set(json.loads(manifest.read_text()))
  except (OSError, ValueError):
    listed = set()
  if name not in listed:
    atomic_write(manifest, json.dumps(sorted(listed | {name})).encode())
  atomic_write(folder / name, data)
  return folder / name


def remove_owned(folder: pathlib.Path) -> None:
  """Removes the files a folder's manifest lists, then the folder if empty."""
  manifest = pathlib.Path(folder) / MANIFEST
  try:
    listed = json.loads(manifest.read_text())
  except (OSError, ValueError):
    return
  for name in listed:
    (manifest.parent / pathlib.Path(name).name).unlink(missing_ok=True)
  manifest.unlink(missing_ok=True)
  try:
    manifest.parent.rmdir()
  except OSError:
    pass  # Something of the user's is left in it.


class Workdir:
  """Reads and writes one run's folder."""

  writes = True  # Process 0 of a run, or its only process; see Follower.

  def __init__(self, path: str | os.PathLike):
    self.path = pathlib.Path(path)

  # Reading, with one-line errors that name the damaged file.

  def read_json(self, name: str):
    path = self.path / name
    try:
      with open(path) as f:
        return json.load(f)
    except FileNotFoundError:
      raise errors.UserError(f"{path} is missing") from None
    except OSError as e:
      raise errors.filesystem(e, "cannot read") from None
    except ValueError as e:
      raise errors.UserError(f"{path} is damaged (not JSON: {e})") from None

  def read_status(self) -> dict | None:
    """Returns status.json, or None if there is none.

    Raises:
      UserError: status.json exists but is damaged (never read as "no run").
    """
    if not (self.path / "status.json").exists():
      return None
    status = self.read_json("status.json")
    if not isinstance(status, dict) or status.get("status") not in STATUSES:
      raise errors.UserError(
          f"{self.path / 'status.json'} is damaged (no valid status; valid: "
          f"{', '.join(STATUSES)})")
    return status

  def status(self) -> str | None:
    """The recorded status, or None if there is none (raises if damaged)."""
    status = self.read_status()
    return None if status is None else status["status"]

  def require_done(self) -> "Workdir":
    """Returns self if the folder holds a finished run, else raises UserError.

    A run still being written (its lock held) is named with its writer.
    """
    live = ownership.holder(self.path)
    if live is not None:
      raise errors.UserError(
          f"--workdir {self.path} is still running ({live}); its files are read "
          "once it is done")
    status = self.read_status()
    if status is None or status["status"] != "done":
      state = "no status.json" if status is None else (
          f"status {status['status']!r} at epoch {status.get('epoch')}")
      raise errors.UserError(
          f"--workdir {self.path} holds no finished run ({state}); rerun its "
          "training command to finish it")
    return self

  def read_metrics(self) -> list[dict]:
    path = self.path / "metrics.jsonl"
    try:
      with open(path) as f:
        lines = f.read().split("\n")
    except FileNotFoundError:
      raise errors.UserError(f"{path} is missing") from None
    except OSError as e:
      raise errors.filesystem(e, "cannot read") from None
    rows = []
    for number, line in enumerate(lines, 1):
      if not line.strip():
        continue
      try:
        rows.append(json.loads(line))
      except ValueError:
        raise errors.UserError(
            f"{path} is damaged at line {number} (not JSON: {line[:60]!r})") from None
    return rows

  def read_examples(self) -> dict[str, np.ndarray]:
    path = self.path / "examples.npz"
    try:
      with np.load(path) as f:
        return dict(f)
    except FileNotFoundError:
      raise errors.UserError(f"{path} is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
      raise errors.UserError(f"{path} is damaged ({errors.cause(e)})") from None

  @property
  def checkpoints(self) -> pathlib.Path:
    return self.path / "checkpoints"

  # Writing.

  def write_json(self, name: str, obj) -> None:
    atomic_write(self.path / name, (dumps(obj) + "\n").encode())

  def set_status(self, status: str, **fields) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    self.write_json("status.json", dict(status=status, updated=now, **fields))

  def set_status_anyhow(self, status: str, **fields) -> bool:
    """`set_status` where the disk may be full or the folder read-only.

    Falls back to rewriting status.json in place, which needs no new blocks
    when the text fits the old file's. Returns whether either way worked.
    """
    try:
      self.set_status(status, **fields)
      return True
    except OSError:
      pass
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = (dumps(dict(status=status, updated=now, **fields)) + "\n").encode()
    try:
      with open(self.path / "status.json", "r+b") as f:
        old = len(f.read())
        if len(text) > old:  # Keep it whole: drop the detail, keep the status.
          text = (dumps(dict(status=status, updated=now)) + "\n").encode()
        f.seek(0)
        f.write(text.ljust(old) if len(text) <= old else text)
        f.flush()
        os.fsync(f.fileno())
      return True
    except OSError:
      return False

  def append_metrics(self, rows: list[dict]) -> int:
    """Appends rows as whole lines in one write, then syncs.

    A failed write (a full disk) is cut back to the file's previous length,
    so the file never ends in half a line. Returns the file's new length.
    """
    path = self.path / "metrics.jsonl"
    text = "".join(dumps(row) + "\n" for row in rows).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
      before = os.fstat(fd).st_size
      try:
        view = memoryview(text)
        while view:  # Unbuffered: nothing is left to flush when cutting back.
          view = view[os.write(fd, view):]
        os.fsync(fd)
      except OSError as e:
        try:
          os.ftruncate(fd, before)
        except OSError:
          pass
        raise _named(e, path) from None
      return before + len(text)
    finally:
      os.close(fd)

  def cut_metrics(self, length: int, sha256: str) -> None:
    """Cuts metrics.jsonl back to its first `length` bytes, as a checkpoint saw them.

    Raises:
      UserError: the file is shorter, or its first bytes differ from what the
        checkpoint recorded (the file was changed since).
    """
    import hashlib  # pylint: disable=g-import-not-at-top
    path = self.path / "metrics.jsonl"
    try:
      with open(path, "rb") as f:
        head = f.read(length)
    except FileNotFoundError:
      head = b""
    if len(head) != length or hashlib.sha256(head).hexdigest() != sha256:
      raise errors.UserError(
          f"{path} does not match its checkpoint (its first {length} bytes were "
          "changed or lost); pass --overwrite to start afresh")
    with open(path, "r+b") as f:
      f.truncate(length)
      f.flush()
      os.fsync(f.fileno())

  def write_examples(self, fields: Iterable[tuple[str, np.ndarray]]) -> None:
    """Writes examples.npz atomically from (name, array) pairs, one array at a
    time: each is compressed straight into a temporary file and can be freed
    before the next is made, so a run of thousands of lanes never holds all
    its per-example records on the host at once (np.load reads the file as
    it reads np.savez_compressed's)."""
    path = self.path / "examples.npz"
    fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".examples.npz.")
    try:
      os.fchmod(fd, 0o666 & ~_UMASK)
      with os.fdopen(fd, "wb") as f:
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_DEFLATED,
                             allowZip64=True) as archive:
          for name, array in fields:
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
              np.lib.format.write_array(member, np.asanyarray(array),
                                        allow_pickle=False)
            del array  # Gone before the next one is made.
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp, path)
    except OSError as e:
      if os.path.exists(tmp):
        os.unlink(tmp)
      raise _named(e, path) from None
    except BaseException:
      if os.path.exists(tmp):
        os.unlink(tmp)
      raise


class Follower(Workdir):
  """A workdir as the processes other than process 0 of a multi-process run
  see it: they read, and process 0 writes (calls to write are no-ops here)."""

  writes = False

  def write_json(self, name: str, obj) -> None:
    del name, obj

  def set_status(self, status: str, **fields) -> None:
    del status, fields

  def set_status_anyhow(self, status: str, **fields) -> bool:
    del status, fields
    return True

  def append_metrics(self, rows: list[dict]) -> int:
    del rows
    return 0

  def cut_metrics(self, length: int, sha256: str) -> None:
    del length, sha256

  def write_examples(self, fields: Iterable[tuple[str, np.ndarray]]) -> None:
    for _ in fields:  # Making them gathers from every process: take part.
      pass
