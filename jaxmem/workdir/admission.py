"""What a run may do with a folder: start afresh, resume, or be refused.

Decided before any work (`inspect`, which only reads) and again under the
workdir's lock (`begin`, which then prepares the folder). jaxmem deletes only
what it can prove it wrote: a folder without its marker is someone else's; an
unreadable marker or status is never "no run here"; `--overwrite` replaces a
jaxmem run and removes only jaxmem's own files.
"""

import json
import os
import pathlib
import shutil
import tempfile

from jaxmem import errors
from jaxmem.workdir import ownership
from jaxmem.workdir import files

# Config keys that change how a run executes but not its results: a run may
# be resumed with other values of these.
EXECUTION_KEYS = ("lane_chunk", "num_devices", "eval_batch_size", "checkpoint_every_epochs",
                  "checkpoint_keep", "tensorboard", "cache_inputs",
                  "epoch_driver")


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
      writes it; it holds a finished run (without overwrite), or an
      unfinished run of a config that differs in the keys named.
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
  if marker is None:
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
  if overwrite:
    return False
  status = wd.read_status()
  if status is not None and status["status"] == "done":
    raise errors.UserError(
        f"--workdir {path} already holds a finished run; pass --overwrite to "
        "replace it, or choose another --workdir")
  if not (path / "config.json").exists():
    return True  # Stopped before its config was written: nothing to keep.
  differ = config_diff(wd.read_json("config.json")["config"], config)
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
    if ownership.read_marker(wd.path) is None:
      wd.write_json(ownership.MARKER, ownership.new_marker())
    return True
  clear(wd)
  wd.write_json(ownership.MARKER, ownership.new_marker())
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


def _flatten(tree: dict, prefix: str = "") -> dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[prefix + key] = value
  return flat


def config_diff(old: dict, new: dict) -> list[str]:
  """Returns the config keys whose values differ, ignoring EXECUTION_KEYS.

  A field the old config lacks (added to jaxmem since) counts as its default.
  """
  from jaxmem import config as config_lib  # pylint: disable=g-import-not-at-top
  defaults = _flatten(json.loads(files.dumps(config_lib.base_config().to_dict())))
  old, new = (_flatten(json.loads(files.dumps(c))) for c in (old, new))
  old = {**{k: v for k, v in defaults.items() if k not in old}, **old}
  return sorted(k for k in old.keys() | new.keys()
                if k not in EXECUTION_KEYS and old.get(k) != new.get(k))
