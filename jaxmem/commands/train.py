"""`jaxmem`: the training command, and the door to the others.

  jaxmem --experiment=quickstart --workdir=runs/quickstart
  jaxmem --experiment=zhang_usps --config.num_seeds=16 --config.num_epochs=20
  jaxmem --list_experiments
  jaxmem analyze --workdir=runs/a    # the difficulty table (jaxmem.commands.analyze)
  jaxmem report --workdir=runs/a     # tables and figures (jaxmem.commands.report)

`--experiment=NAME` selects the built-in sweep jaxmem.sweeps.NAME (the
repository's sweeps/NAME.py); `--config.KEY=VALUE` overrides
any field of its config (nested fields too: `--config.grid.label_corruption=
"(0.0,0.5,1.0)"`). Bad input ends with one line on stderr and exit status 2,
before anything compiles. This module owns the training flags only.
"""

import dataclasses
import sys

from absl import flags
from ml_collections import config_flags

from jaxmem import config as config_lib
from jaxmem import errors
from jaxmem import sweeps
from jaxmem.commands import common
from jaxmem.workdir import summary

DEFAULT_EXPERIMENT = "quickstart"

_EXPERIMENT = flags.DEFINE_string(
    "experiment", DEFAULT_EXPERIMENT, "Experiment: a file in sweeps/ (see "
    "--list_experiments).")
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Set by --experiment; override fields with --config.KEY=VALUE.",
    lock_config=True)
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


def _experiment_from_argv(argv: list[str]) -> str:
  for i, arg in enumerate(argv):
    if arg.startswith("--experiment="):
      return arg.split("=", 1)[1]
    if arg == "--experiment" and i + 1 < len(argv):
      return argv[i + 1]
  return DEFAULT_EXPERIMENT


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags, with --experiment choosing the config file first.

  Any parsing error (unknown flag, unknown config key, a value of the wrong
  type) becomes a one-line error with exit status 2.
  """
  try:
    if not any(a == "--config" or a.startswith("--config=") for a in argv):
      name = _experiment_from_argv(argv)
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
  workdir = _WORKDIR.value or f"runs/{_EXPERIMENT.value}"
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
                       overwrite=_OVERWRITE.value,
                       heartbeat_timeout_s=launch.heartbeat_timeout_s)
  except errors.UserError as e:
    common.fail(e)
  except preemption.Preempted as e:
    print(f"jaxmem: {e}", file=sys.stderr, flush=True)
    sys.exit(e.exit_status)
  if not distributed.is_primary():
    return
  print(f"\n{_EXPERIMENT.value}: final accuracy, mean +- std over seeds "
        f"({result['train_s']:.1f} s training, {result['compile_s']:.1f} s "
        f"compiling)\n{summary.table(result)}\n\nresults in {workdir}/")


def run() -> None:
  """Entry point of the training command (`jaxmem` runs it via jaxmem.commands)."""
  common.run(main, parse_flags)


if __name__ == "__main__":
  run()
