"""Configs from files: sweep files by path, and configs that workdirs stored.

`load_file` reads a sweep file given as `--config=FILE[:ARG]` (the Flax
convention) and `describe_file` says what config.json records of it;
`merge_stored` puts a config a workdir stored onto today's fields (jaxmem.config)
and `diff` compares two, ignoring EXECUTION_KEYS, so that a run resumes only
with the config it started with.
"""

import hashlib
import importlib.util
import json
import os
import sys

from absl import logging
import ml_collections

from jaxmem import errors
from jaxmem.config import base_config


# Fields that change how a run executes but not its results: a run may be
# resumed with other values of these.
EXECUTION_KEYS = ("lane_chunk", "num_devices", "eval_batch_size",
                  "checkpoint_every_epochs", "checkpoint_keep", "tensorboard",
                  "tensorboard_lanes", "cache_inputs", "scores.grand_chunk")


def _jsonable(tree: dict) -> dict:
  """A config dict as JSON gives it back (tuples as lists)."""
  return json.loads(json.dumps(tree, default=str))


def merge_stored(stored: dict) -> ml_collections.ConfigDict:
  """A config as a workdir stored it, merged onto today's `base_config()`:
  fields added since take their defaults, fields since removed are dropped
  (with a warning)."""
  config = base_config()

  def merge(node, values, prefix):
    for key, value in values.items():
      if key == "model_kwargs" and prefix == "config.":  # Free-form: as stored.
        node[key] = ml_collections.ConfigDict(value)
      elif key not in node:
        logging.warning("stored config field %s%s is no longer used", prefix, key)
      elif isinstance(node[key], ml_collections.ConfigDict) and isinstance(value, dict):
        merge(node[key], value, f"{prefix}{key}.")
      else:
        node[key] = tuple(value) if isinstance(value, list) else value
  merge(config, stored, "config.")
  return config


def _flatten(tree: dict, prefix: str = "") -> dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[prefix + key] = value
  return flat


def diff(old: dict, new: dict) -> list[str]:
  """The keys whose values differ between two configs (as dicts), ignoring
  EXECUTION_KEYS. A field the old config lacks (added since) counts as its
  default; one today's config lacks (removed since) is ignored."""
  defaults = _flatten(_jsonable(base_config().to_dict()))
  old, new = (_flatten(_jsonable(c)) for c in (old, new))
  old = {**{k: v for k, v in defaults.items() if k not in old}, **old}
  kept = lambda k: k in defaults or k.startswith("model_kwargs.")
  return sorted(k for k in old.keys() | new.keys()
                if k not in EXECUTION_KEYS and kept(k) and old.get(k) != new.get(k))


def load_file(spec: str, keep_on_path: bool = True) -> tuple[ml_collections.ConfigDict, dict]:
  """A sweep file's config, by path (the Flax convention): `path.py` or
  `path.py:arg`, whose `get_config()` (or `get_config(arg)`) returns it.

  The file's folder is on the import path while it loads (so it can import
  the modules beside it, and register models and data sets), and stays there
  with `keep_on_path` (so that a model named "module:Class" beside it imports).

  Returns:
    (config, provenance): provenance is what config.json records of the
    file: its path, the argument, its SHA-256 and its text.

  Raises:
    UserError: no such file, it does not import, or it has no get_config.
  """
  path, _, arg = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")
  path = os.path.abspath(os.path.expanduser(path))
  if not os.path.isfile(path):
    raise errors.UserError(f"--config={spec}: no such file (a sweep file is a "
                           "Python file with get_config(); built-ins: --experiment=NAME)")
  folder = os.path.dirname(path)
  added = folder not in sys.path
  if added:
    sys.path.insert(0, folder)
  try:
    name = "jaxmem_sweep_" + hashlib.sha256(path.encode()).hexdigest()[:12]
    spec_ = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec_)
    try:
      spec_.loader.exec_module(module)
    except Exception as e:  # pylint: disable=broad-except
      raise errors.UserError(f"--config={spec}: importing it failed: "
                             f"{type(e).__name__}: {errors.cause(e)}") from None
    if not callable(getattr(module, "get_config", None)):
      raise errors.UserError(f"--config={spec}: {path} defines no get_config()")
    config = module.get_config(arg) if arg else module.get_config()
  finally:
    if added and not keep_on_path:
      sys.path.remove(folder)
  return config, dict(describe_file(path), arg=arg or None)


def describe_file(path: str) -> dict:
  """What config.json records of a sweep file: its path, SHA-256 and text."""
  path = os.path.abspath(os.path.expanduser(path))
  with open(path, "rb") as f:
    raw = f.read()
  return dict(path=path, arg=None, sha256=hashlib.sha256(raw).hexdigest(),
              text=raw.decode(errors="replace"))
