"""jaxmem: memorization and generalization experiments, many runs per compiled program.

A lane is one complete training run (a seed, its hyperparameters, its label or
input corruption, its subset). jaxmem writes the training step for ONE lane,
lifts it over every lane of a sweep in one place, and compiles a whole epoch.

The public API:

  jaxmem.base_config()            the config every sweep starts from
  jaxmem.train(config, workdir)   trains every lane; resumes an unfinished run
  jaxmem.open(workdir)            a finished run's results: DataFrames, models
  jaxmem.register_model(name, m)  a Flax Linen class or factory, for config.model
  jaxmem.register_dataset(n, fn)  a loader fn(data_dir) -> Dataset, for config.dataset
  jaxmem.Dataset, jaxmem.Split    what a loader returns
  jaxmem.UserError                the one exception meant for users' eyes
  jaxmem.__version__

The map (the engine flat at the top, the families of parts in folders):

  config.py       the base config (every field commented), validation
  config_files.py configs from files: sweep files by path, stored configs
                  merged and compared
  lanes.py        everything about a lane: the grid's points x seeds, keys,
                  subsets, constants
  steps.py        one lane: its task and state, init, train step, evaluation
  epoch.py        the one-lane epoch and after-epoch programs, compiled
  execution.py    the only code that touches the lane axis: chunks, devices
  run.py          the Run: a config's data, lanes, measures, plan and state
  trainer.py      the epoch loop: `train`, and the Trainer it runs
  results.py      a finished run read back: `open`, DataFrames, a lane's model
  optim.py        optimizers and schedules with per-lane hyperparameters
  errors.py       UserError, the one-line errors
  version.py      the version
  datasets/       the data set registry, one file per source; preprocess,
                  corruption, pruning
  models/         the model registry, one file per family; layers, precision
  measures/       one file per family of measures, the explicit list in __init__
  workdir/        a run's folder: files, ownership, admission, checkpoints,
                  resume, history, examples.npz, summary, formats, TensorBoard
  runtime/        processes, signals, memory and disk budgets, host memory
  analysis/       the difficulty table, hold-out estimators, influence, pruning
                  curves, dynamics, Zhang's interpolation
  report/         Markdown and figures
  commands/       the `jaxmem` command line: train, analyze, report
  sweeps/         the built-in experiments (the repository's top-level sweeps/)
"""

import importlib

from jaxmem.version import __version__

# Public name -> (module, attribute), imported when first used, so that
# `import jaxmem` (and a sweep file that imports it) costs nothing.
_API = {
    "base_config": ("jaxmem.config", "base_config"),
    "train": ("jaxmem.trainer", "train"),
    "open": ("jaxmem.results", "open"),
    "Results": ("jaxmem.results", "Results"),
    "UserError": ("jaxmem.errors", "UserError"),
    "register_model": ("jaxmem.models", "register"),
    "register_dataset": ("jaxmem.datasets", "register"),
    "Dataset": ("jaxmem.datasets.base", "Dataset"),
    "Split": ("jaxmem.datasets.base", "Split"),
    "CONDITIONS": ("jaxmem.config", "CONDITIONS"),
}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
  if name not in _API:
    raise AttributeError(f"module 'jaxmem' has no attribute {name!r}")
  module, attribute = _API[name]
  value = getattr(importlib.import_module(module), attribute)
  globals()[name] = value
  return value


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(_API))
