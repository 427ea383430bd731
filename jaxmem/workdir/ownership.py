"""Whose folder a workdir is, and who writes it now.

Two guarantees, both checked before a run touches a file:

* **Identity.** The first file a run writes is `jaxmem.json`, a small marker
  with the run's id, the jaxmem version and the workdir format it writes
  (jaxmem.workdir.formats). A folder without it, holding
  anything, is someone else's, and jaxmem neither writes into it nor deletes
  from it. A marker that cannot be read is never taken for "no run here".
* **One writer.** A live run holds an exclusive OS lock (`fcntl.flock`) on
  `jaxmem.lock`, whose text names the holder (host, pid, start time). The OS
  drops the lock when the process dies however it dies, so a lock file left
  behind by a dead process is taken over (with a warning); a live holder
  makes every other writer stop with one line naming it. Readers (analysis,
  reports) only look: `holder` says who, if anyone, holds the lock.
"""

import dataclasses
import datetime
import errno
import fcntl
import json
import os
import pathlib
import socket
import uuid

from absl import logging

from jaxmem import errors
from jaxmem import version

MARKER = "jaxmem.json"
LOCK = "jaxmem.lock"


def now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_marker(workdir_format: int, run_id: str | None = None, **more) -> dict:
  """The identity of a run: its id (new unless given), this jaxmem's version,
  the workdir format it writes, the time."""
  return dict(format="jaxmem-workdir", run_id=run_id or uuid.uuid4().hex,
              jaxmem_version=version.__version__, workdir_format=workdir_format,
              created=now(), **more)


def read_marker(path: pathlib.Path) -> dict | None:
  """Returns the folder's marker, or None if it has none.

  Raises:
    UserError: the marker exists but cannot be read or is not jaxmem's.
  """
  marker = path / MARKER
  try:
    with open(marker) as f:
      record = json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as e:
    raise errors.UserError(
        f"--workdir {path}: its {MARKER} cannot be read ({errors.cause(e)}), so "
        "jaxmem cannot tell whose run it holds; nothing was changed. Repair or "
        "remove it by hand, or choose another --workdir") from None
  if not isinstance(record, dict) or record.get("format") != "jaxmem-workdir":
    raise errors.UserError(
        f"--workdir {path}: {MARKER} is not a jaxmem workdir marker; nothing was "
        "changed. Choose another --workdir")
  return record


def foreign_entries(path: pathlib.Path) -> list[str]:
  """Names in a folder without a marker, other than jaxmem's own lock file."""
  return sorted(p.name for p in path.iterdir() if p.name != LOCK)


@dataclasses.dataclass(frozen=True)
class Holder:
  """Who holds (or last held) a workdir's lock."""
  host: str
  pid: int
  started: str

  def __str__(self) -> str:
    return f"pid {self.pid} on host {self.host} (since {self.started})"

  def is_here_and_dead(self) -> bool:
    """True if the holder ran on this host and is not running any more."""
    if self.host != socket.gethostname():
      return False
    try:
      os.kill(self.pid, 0)
    except ProcessLookupError:
      return True
    except PermissionError:
      return False
    return False


def _read_holder(lock: pathlib.Path) -> Holder | None:
  try:
    record = json.loads(lock.read_text() or "{}")
    return Holder(str(record["host"]), int(record["pid"]), str(record["started"]))
  except (OSError, ValueError, KeyError, TypeError):
    return None


def holder(path: pathlib.Path) -> Holder | None:
  """The live holder of the workdir's lock, or None if no process holds it.

  Only looks: the probe takes a shared lock for an instant and releases it.
  """
  lock = pathlib.Path(path) / LOCK
  try:
    fd = os.open(lock, os.O_RDONLY)
  except OSError:
    return None  # No lock file: no run has ever held it, or unreadable.
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
      return _read_holder(lock) or Holder("?", -1, "?")
    return None
  else:
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None
  finally:
    os.close(fd)


class Lock:
  """The exclusive lock of a workdir, held while a run writes it.

  Usage: `with Lock(path): ...`. Raises UserError naming the holder if another
  live process holds it; takes over, with a warning, a lock file left by a
  process that is gone.
  """

  def __init__(self, path: pathlib.Path):
    self.path = pathlib.Path(path)
    self._fd = None

  def __enter__(self) -> "Lock":
    lock = self.path / LOCK
    try:
      self._fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise errors.UserError(
          f"--workdir {self.path}: cannot create {LOCK}: {errors.cause(e)}") from None
    try:
      fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      os.close(self._fd)
      self._fd = None
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        held = _read_holder(lock)
        raise errors.UserError(
            f"--workdir {self.path} is in use by another jaxmem, "
            f"{held or 'of unknown pid'}; wait for it to finish or stop it "
            "(SIGTERM checkpoints and stops it), or choose another --workdir"
        ) from None
      raise errors.UserError(
          f"--workdir {self.path}: cannot lock {LOCK}: {errors.cause(e)}") from None
    previous = _read_holder(lock)
    if previous is not None:
      how = ("no longer running" if previous.is_here_and_dead() else
             "it holds no lock, so it is not running")
      logging.warning("%s: taking over the lock left by %s (%s)", self.path,
                      previous, how)
    mine = dict(host=socket.gethostname(), pid=os.getpid(), started=now())
    try:
      os.ftruncate(self._fd, 0)
      os.pwrite(self._fd, (json.dumps(mine) + "\n").encode(), 0)
    except OSError:
      pass  # The OS lock is what counts; the text only names the holder.
    return self

  def __exit__(self, *exc) -> None:
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)  # Released cleanly: nothing to take over.
    except OSError:
      pass
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None
