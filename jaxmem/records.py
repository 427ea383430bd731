"""The workdir contract: what a run writes, written so that nothing is ever torn.

A run's folder explains itself:
  config.json    the full config, every lane's identity, the randomness, the
                 data's source, library versions and devices.
  status.json    {"status": "running" | "done" | "failed", ...}.
  metrics.jsonl  one JSON object per lane per epoch.
  examples.npz   per-example predictions and correctness, lane x epoch x example.
  summary.json   final numbers per lane, mean +- std per grid point.
  analysis/      written by jaxmem.analyze: cached per-lane measures and the
                 difficulty table; report/ by jaxmem.report.
Every file except metrics.jsonl is replaced atomically (temporary file, then
rename); metrics.jsonl grows by whole lines written in one call.
"""

import datetime
import io
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

from jaxmem import errors

# Config keys that change how a run executes but not its results: a run may
# be resumed with other values of these.
EXECUTION_KEYS = ("lane_chunk", "num_devices", "eval_batch_size", "checkpoint_every_epochs",
                  "checkpoint_keep")
FILES = ("config.json", "status.json", "metrics.jsonl", "examples.npz",
         "summary.json")


def _default(obj):
  """JSON encoder for numpy scalars and arrays, tuples come out as lists."""
  if isinstance(obj, np.generic):
    return obj.item()
  if isinstance(obj, np.ndarray):
    return obj.tolist()
  return str(obj)


def dumps(obj) -> str:
  return json.dumps(obj, default=_default, sort_keys=False)


def atomic_write(path: pathlib.Path, data: bytes) -> None:
  """Writes `data` to `path` so that readers see the old file or the new one."""
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


class Workdir:
  """Reads and writes one run's folder."""

  def __init__(self, path: str | os.PathLike):
    self.path = pathlib.Path(path)

  def read_json(self, name: str):
    with open(self.path / name) as f:
      return json.load(f)

  def status(self) -> str | None:
    """Returns the recorded status, or None if the folder holds no run."""
    try:
      return self.read_json("status.json")["status"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
      return None

  def require_done(self) -> "Workdir":
    """Returns self if the folder holds a finished run, else raises UserError."""
    if self.status() != "done":
      raise errors.UserError(
          f"--workdir {self.path} holds no finished run (status "
          f"{self.status()!r}); it needs config.json, metrics.jsonl, "
          "examples.npz and summary.json of a done run")
    return self

  @property
  def checkpoints(self) -> pathlib.Path:
    return self.path / "checkpoints"

  def clear(self) -> None:
    """Removes a previous run's files and checkpoints (and nothing else)."""
    for name in FILES:
      (self.path / name).unlink(missing_ok=True)
    shutil.rmtree(self.checkpoints, ignore_errors=True)
    shutil.rmtree(self.path / "analysis", ignore_errors=True)  # Stale caches.

  def begin(self, config: dict, overwrite: bool) -> bool:
    """Decides between a fresh run and resuming the one in the folder.

    Args:
      config: the command's config, as a dict.
      overwrite: replace whatever run the folder holds.

    Returns:
      True to resume the unfinished run of the same config that the folder
      holds; False for a fresh run (the folder is then cleared).

    Raises:
      UserError: the folder holds a finished run, or an unfinished run of a
        config that differs in the keys named. Nothing is changed then.
    """
    if self.path.exists() and not self.path.is_dir():
      raise errors.UserError(f"--workdir {self.path} exists and is not a folder")
    held = None if overwrite else self.status()
    if held == "done":
      raise errors.UserError(
          f"--workdir {self.path} already holds a finished run; pass "
          "--overwrite to replace it, or choose another --workdir")
    if held is not None:
      differ = config_diff(self.read_json("config.json")["config"], config)
      if differ:
        raise errors.UserError(
            f"--workdir {self.path} holds a run of another config (it differs "
            f"in {', '.join(differ)}); pass --overwrite to replace it, or "
            "choose another --workdir")
      return True
    self.path.mkdir(parents=True, exist_ok=True)
    self.clear()
    return False

  def write_json(self, name: str, obj) -> None:
    atomic_write(self.path / name, (dumps(obj) + "\n").encode())

  def set_status(self, status: str, **fields) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    self.write_json("status.json", dict(status=status, updated=now, **fields))

  def append_metrics(self, rows: list[dict]) -> None:
    """Appends rows as whole lines in one write, then syncs."""
    text = "".join(dumps(row) + "\n" for row in rows)
    with open(self.path / "metrics.jsonl", "a") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())

  def rewrite_metrics(self, rows: list[dict]) -> None:
    """Replaces metrics.jsonl with `rows` (on resume, the checkpoint's rows)."""
    atomic_write(self.path / "metrics.jsonl",
                 "".join(dumps(row) + "\n" for row in rows).encode())

  def read_metrics(self) -> list[dict]:
    with open(self.path / "metrics.jsonl") as f:
      return [json.loads(line) for line in f if line.strip()]

  def write_examples(self, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write(self.path / "examples.npz", buffer.getvalue())

  def read_examples(self) -> dict[str, np.ndarray]:
    with np.load(self.path / "examples.npz") as f:
      return dict(f)


def _flatten(tree: dict, prefix: str = "") -> dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[prefix + key] = value
  return flat


def config_diff(old: dict, new: dict) -> list[str]:
  """Returns the config keys whose values differ, ignoring EXECUTION_KEYS."""
  old, new = (_flatten(json.loads(dumps(c))) for c in (old, new))
  return sorted(k for k in old.keys() | new.keys()
                if k not in EXECUTION_KEYS and old.get(k) != new.get(k))
