"""`jaxmem`: the training command, and the door to the others.

  jaxmem --experiment=quickstart --workdir=runs/quickstart
  jaxmem --experiment=zhang_usps --config.num_seeds=16 --config.num_epochs=20
  jaxmem --config=path/to/my_sweep.py --config.num_seeds=4   # a sweep file of yours
  jaxmem --config=path/to/my_sweep.py:wide                   # get_config("wide")
  jaxmem --list_experiments
  jaxmem analyze --workdir=runs/a    # the difficulty table (jaxmem.commands.analyze)
  jaxmem report --workdir=runs/a     # tables and figures (jaxmem.commands.report)

`--experiment=NAME` selects the built-in sweep jaxmem.sweeps.NAME (the
repository's sweeps/NAME.py), `--config=FILE[:ARG]` a sweep file of yours (the
Flax convention: its get_config() returns the config; its folder is on the
import path, so it can import modules beside it); `--config.KEY=VALUE` overrides
any field of its config (nested fields too: `--config.grid.label_corruption=
"(0.0,0.5,1.0)"`). Bad input ends with one line on stderr and exit status 2,
before anything compiles. This module owns the training flags only.
"""

import dataclasses
import os
import sys

from absl import flags
from ml_collections import config_flags

from jaxmem import config as config_lib
from jaxmem import config_files
from jaxmem import errors
from jaxmem import sweeps
from jaxmem.commands import common
from jaxmem.workdir import summary

DEFAULT_EXPERIMENT = "quickstart"

_EXPERIMENT = flags.DEFINE_string(
    "experiment", DEFAULT_EXPERIMENT, "Experiment: a file in sweeps/ (see "
    "--list_experiments).")
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "A sweep file (path.py or path.py:arg, its get_config() "
    "returning the config), else set by --experiment; override fields with "
    "--config.KEY=VALUE.", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Folder for the run's results; default runs/<experiment>.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Data folder; default $JAXMEM_DATA_DIR, else ~/.cache/jaxmem.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace the jaxmem run already in --workdir (only "
    "jaxmem's own files are removed).")
_LIST = flags.DEFINE_bool("list_experiments", False,
                          "List the experiments with their first line and exit.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "Several processes, launched by hand: process "
    "0's host:port (with --num_processes and --process_id). Under SLURM, Open "
    "MPI or on a TPU pod slice, leave it out: JAX reads the launch.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None,
                                      "Processes of the run (with --coordinator_address).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None,
                                   "This process's index, 0..num_processes-1.")
_HEARTBEAT = flags.DEFINE_integer(
    "heartbeat_timeout_s", 100, "Over several processes: a process silent this "
    "long is lost, and the run stops with status failed.")


# The sweep file given by --config=FILE, as config.json records it (path,
# argument, SHA-256, text); None for a built-in experiment.
_sweep_file: dict | None = None


def _value_of(argv: list[str], flag: str) -> str | None:
  """The value argv gives `--flag`, or None."""
  for i, arg in enumerate(argv):
    if arg.startswith(f"--{flag}="):
      return arg.split("=", 1)[1]
    if arg == f"--{flag}" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags, with --experiment (or --config=FILE) choosing the config first.

  Any parsing error (a missing or broken sweep file, an unknown flag or
  config key, a value of the wrong type) becomes a one-line error with exit
  status 2.
  """
  global _sweep_file
  argv = sys.argv[:] = _last_of_each_override(argv)  # config_flags reads sys.argv.
  try:
    given = _value_of(argv, "config")
    if given is not None:
      if _value_of(argv, "experiment") is not None:
        raise errors.UserError(
            "--config=FILE and --experiment=NAME both choose the experiment; give one")
      config, _sweep_file = config_files.load_file(given)
      _check_config_keys(argv, config)
      # config_flags reads the file before its --config.KEY overrides.
      rest = [a for i, a in enumerate(argv[1:], 1) if a != f"--config={given}"
              and not (a == "--config" or (i > 1 and argv[i - 1] == "--config"))]
      argv = sys.argv[:] = argv[:1] + [f"--config={given}"] + rest  # config_flags reads sys.argv.
    else:
      name = _value_of(argv, "experiment") or DEFAULT_EXPERIMENT
      path = sweeps.module(name).__file__
      _check_config_keys(argv, sweeps.load(name))
      argv = argv[:1] + [f"--config={path}"] + argv[1:]
  except (errors.UserError, AttributeError, KeyError, TypeError, ValueError) as e:
    common.fail(common.first_line(e))
  return common.parse(argv, "jaxmem", valid())


def valid() -> list[str]:
  """This command's flags, --config standing for its overrides."""
  return [("--config.KEY=VALUE" if f == "--config" else f)
          for f in common.own_flags(__name__)]


def _last_of_each_override(argv: list[str]) -> list[str]:
  """argv with only the last --config.KEY=VALUE of each key: the last value
  wins, for tuples too (ml_collections would append a repeated tuple's)."""
  key = lambda a: a.split("=", 1)[0] if a.startswith("--config.") else None
  last = {key(a): i for i, a in enumerate(argv) if key(a)}
  return [a for i, a in enumerate(argv) if not key(a) or last[key(a)] == i]


def _check_config_keys(argv: list[str], config) -> None:
  """Raises UserError for a --config.KEY that the config does not have."""
  for arg in argv[1:]:
    if not arg.startswith("--config."):
      continue
    node, seen = config, "config"
    for part in arg[len("--config."):].split("=", 1)[0].split("."):
      if not hasattr(node, "keys") or part not in node:
        valid = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "none"
        raise errors.UserError(
            f"unknown config key {seen}.{part} in {arg!r}; valid keys of "
            f"{seen}: {valid}")
      node, seen = node[part], f"{seen}.{part}"


def list_experiments() -> str:
  lines = []
  for name in sweeps.names():
    doc = (sweeps.module(name).__doc__ or "").strip()
    lines.append(f"{name:28s} {doc.splitlines()[0] if doc else ''}")
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  common.no_arguments(argv)
  if _LIST.value:
    print(list_experiments())
    return
  # pylint: disable=g-import-not-at-top
  from jaxmem import trainer
  from jaxmem.runtime import distributed
  from jaxmem.runtime import preemption
  from jaxmem.workdir import admission
  from jaxmem.workdir import files
  name = (os.path.splitext(os.path.basename(_sweep_file["path"]))[0]
          if _sweep_file else _EXPERIMENT.value)
  workdir = _WORKDIR.value or f"runs/{name}"
  launch = distributed.Launch(_COORDINATOR.value, _NUM_PROCESSES.value,
                              _PROCESS_ID.value, _HEARTBEAT.value)
  try:
    distributed.check(launch)
    if launch.explicit or distributed.cluster():
      # Refused before any process joins the others (a live run's workdir, a
      # finished run, someone else's files).
      config_lib.validate(_CONFIG.value)
      admission.inspect(files.Workdir(workdir), _CONFIG.value.to_dict(),
                        _OVERWRITE.value)
      # JAX's own heartbeat outlasts jaxmem's watchdog, which says what
      # happened; it ends the wait of a process blocked in a collective.
      distributed.initialize(dataclasses.replace(
          launch, heartbeat_timeout_s=launch.heartbeat_timeout_s + 10))
    result = trainer.train(_CONFIG.value, workdir, data_dir=_DATA_DIR.value,
                           overwrite=_OVERWRITE.value, config_file=_sweep_file,
                           heartbeat_timeout_s=launch.heartbeat_timeout_s)
  except errors.UserError as e:
    common.fail(e)
  except preemption.Preempted as e:
    print(f"jaxmem: {e}", file=sys.stderr, flush=True)
    sys.exit(e.exit_status)
  if not distributed.is_primary():
    return
  print(f"\n{name}: final accuracy, mean +- std over seeds "
        f"({result['train_s']:.1f} s training, {result['compile_s']:.1f} s "
        f"compiling)\n{summary.table(result)}\n\nresults in {workdir}/")


def run() -> None:
  """Entry point of the training command (`jaxmem` runs it via jaxmem.commands)."""
  common.run(main, parse_flags)


if __name__ == "__main__":
  run()
