"""The built-in experiments, installed as jaxmem.sweeps (`--experiment=NAME`).

A file here is one experiment: `get_config()` returns a locked ConfigDict
built on `jaxmem.base_config()`, and its docstring's first line is what
`jaxmem --list_experiments` shows; the rest says what it reproduces and gives
its command (`--experiment=NAME`), on CPU and at full scale.
"""

import importlib
import pkgutil

from jaxmem import errors


def names() -> list[str]:
  """The built-in experiments, sorted."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__)
                if not m.name.startswith("_"))


def module(name: str):
  """Experiment `name`'s module, or raises UserError listing them."""
  errors.check_choice("experiment", name, names())
  return importlib.import_module(f"{__name__}.{name}")


def load(name: str):
  """Experiment `name`'s config, or raises UserError listing them."""
  return module(name).get_config()
