"""What a run may do with a folder: start afresh, resume, or be refused.

Decided before any work (`inspect`, which only reads) and again under the
workdir's lock (`begin`, which then prepares the folder). jaxmem deletes only
what it can prove it wrote: a folder without its marker is someone else's; an
unreadable marker or status is never "no run here"; `--overwrite` replaces a
jaxmem run and removes only jaxmem's own files.
"""

import os
import pathlib
import shutil
import tempfile

from jaxmem import config_files
from jaxmem import errors
from jaxmem.workdir import files
from jaxmem.workdir import formats
from jaxmem.workdir import ownership


def inspect(wd: files.Workdir, config: dict, overwrite: bool,
            locked: bool = False) -> bool:
  """Decides, without writing anything, between a fresh run and resuming.

  Args:
    config: the command's config, as a dict.
    overwrite: replace the jaxmem run the folder holds, finished or not.
    locked: this process holds the folder's lock (`begin`).

  Returns:
    True to resume the unfinished run of the same config that the folder
    holds; False for a fresh run.

  Raises:
    UserError: the path is not a usable folder; the folder holds files
      jaxmem did not write; its marker or status is damaged; another process
      writes it; it holds a finished run (without overwrite), an unfinished
      run of a config that differs in the keys named, or an unfinished run
      of an earlier jaxmem that this one cannot resume (naming the version
      that can).
  """
  path = wd.path
  if os.path.lexists(path) and not path.exists():
    raise errors.UserError(
        f"--workdir {path} is a dangling link (to {os.readlink(path)})")
  if not path.exists():
    _check_creatable(path)
    return False
  if not path.is_dir():
    raise errors.UserError(f"--workdir {path} exists and is not a folder")
  try:
    marker = ownership.read_marker(path)
    entries = [] if marker else ownership.foreign_entries(path)
  except PermissionError as e:
    raise errors.filesystem(e, "cannot read") from None
  written = formats.of_marker(marker) if marker else formats.unmarked(path)
  if written is None:
    if entries:
      shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
      raise errors.UserError(
          f"--workdir {path} holds files jaxmem did not write ({shown}) and no "
          f"{ownership.MARKER}; jaxmem writes only into an empty or new folder "
          "or its own workdir, and deletes nothing else: choose another --workdir")
    _check_writable(path)
    return False
  live = None if locked else ownership.holder(path)
  if live is not None:
    raise errors.UserError(
        f"--workdir {path} is in use by another jaxmem, {live}; wait for it to "
        "finish or stop it (SIGTERM checkpoints and stops it), or choose "
        "another --workdir")
  _check_writable(path)
  if overwrite and written.resumable:
    return False  # Whatever its status says (even damaged): the marker is ours.
  status = wd.read_status()
  done = status is not None and status["status"] == "done"
  if not written.resumable and not done:
    raise errors.UserError(formats.cannot_resume(path, written))
  if overwrite:
    return False
  if done:
    raise errors.UserError(
        f"--workdir {path} already holds a finished run; pass --overwrite to "
        "replace it, or choose another --workdir")
  if not (path / "config.json").exists():
    return True  # Stopped before its config was written: nothing to keep.
  differ = config_files.diff(wd.read_json("config.json")["config"], config)
  if differ:
    raise errors.UserError(
        f"--workdir {path} holds a run of another config (it differs in "
        f"{', '.join(differ)}); pass --overwrite to replace it, or choose "
        "another --workdir")
  return True



def begin(wd: files.Workdir, config: dict, overwrite: bool) -> bool:
  """`inspect` again (under the lock), then prepares the folder.

  A fresh run removes what an earlier jaxmem run left (only jaxmem's own
  files) and writes a new marker; a resumed run removes the temporary files
  of interrupted writes. Returns True to resume.
  """
  resume = inspect(wd, config, overwrite, locked=True)
  wd.path.mkdir(parents=True, exist_ok=True)
  if resume:
    remove_temporary(wd)
    marker = ownership.read_marker(wd.path)
    if marker is None:
      wd.write_json(ownership.MARKER, ownership.new_marker(formats.FORMAT))
    elif formats.of_marker(marker).number != formats.FORMAT:
      # Resumed by this jaxmem: what it writes from now on is today's format.
      wd.write_json(ownership.MARKER, ownership.new_marker(
          formats.FORMAT, marker["run_id"],
          upgraded_from=marker.get("jaxmem_version")))
    return True
  clear(wd)
  wd.write_json(ownership.MARKER, ownership.new_marker(formats.FORMAT))
  return False



def clear(wd: files.Workdir) -> None:
  """Removes a previous jaxmem run's files (and nothing else)."""
  for name in files.FILES:
    (wd.path / name).unlink(missing_ok=True)
  for name in files.FOLDERS:
    shutil.rmtree(wd.path / name, ignore_errors=True)
  for name in files.DERIVED:
    files.remove_owned(wd.path / name)
  remove_temporary(wd)



def remove_temporary(wd: files.Workdir) -> None:
  """Removes leftovers of interrupted writes: temporary files and the
  temporary folders of checkpoint saves."""
  for entry in wd.path.iterdir():
    if files.TEMPORARY.match(entry.name):
      entry.unlink(missing_ok=True)
  if wd.checkpoints.is_dir():
    for entry in wd.checkpoints.iterdir():
      if ".orbax-checkpoint-tmp" in entry.name:
        shutil.rmtree(entry, ignore_errors=True)


def _check_creatable(path: pathlib.Path) -> None:
  """Raises UserError if the folder `path` could not be created."""
  parent = path.parent
  while not parent.exists():
    parent = parent.parent
  if not parent.is_dir():
    raise errors.UserError(f"--workdir {path}: {parent} is not a folder")
  if not os.access(parent, os.W_OK | os.X_OK):
    raise errors.UserError(f"--workdir {path}: cannot create it in {parent} "
                           "(not writable)")


def _check_writable(path: pathlib.Path) -> None:
  """Raises UserError naming the cause if nothing can be written in `path`."""
  try:
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".status.json.")
    os.close(fd)
    os.unlink(tmp)
  except OSError as e:
    raise errors.UserError(f"--workdir {path} is not writable: {errors.cause(e)}") from None
