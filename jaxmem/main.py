"""The command line: the only module that defines flags.

  jaxmem --experiment=quickstart --workdir=runs/quickstart
  jaxmem --experiment=zhang_usps --config.num_seeds=16 --config.num_epochs=20
  jaxmem --list_experiments
  python -m jaxmem.analyze --workdir=runs/a   # the difficulty table
  python -m jaxmem.report --workdir=runs/a    # tables and figures

`--experiment=NAME` selects `sweeps/NAME.py`; `--config.KEY=VALUE` overrides
any field of its config (nested fields too: `--config.grid.label_corruption=
"(0.0,0.5,1.0)"`). Bad input ends with one line on stderr and exit status 2,
before anything compiles.
"""

import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxmem import errors
from jaxmem import experiment
from jaxmem import summary

DEFAULT_EXPERIMENT = "quickstart"

_EXPERIMENT = flags.DEFINE_string(
    "experiment", DEFAULT_EXPERIMENT, "Experiment: a file in sweeps/ (see "
    "--list_experiments).")
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Set by --experiment; override fields with --config.KEY=VALUE.",
    lock_config=True)
_WORKDIR = flags.DEFINE_multi_string(
    "workdir", None, "Folder for the run's results; default runs/<experiment>. "
    "`python -m jaxmem.report` takes several.")
_OUT = flags.DEFINE_string(
    "out", None, "jaxmem.report: the report's folder (needed for several "
    "workdirs; default <workdir>/report).")
_FIT_THRESHOLD = flags.DEFINE_float(
    "fit_threshold", 1.0, "jaxmem.report: training accuracy that counts as "
    "fitted, for time to fit.")
_KNN_K = flags.DEFINE_integer(
    "knn_k", 30, "jaxmem.analyze and .report: neighbours of the prediction-depth "
    "probes (Baldock et al.: 30).")
_CRITICAL_EXAMPLES = flags.DEFINE_integer(
    "critical_examples", None, "jaxmem.analyze and .report: training examples "
    "searched for critical samples at the end; default the run's "
    "config.critical.examples.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Data folder; default $JAXMEM_DATA_DIR, else ~/.cache/jaxmem.")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace a run already in --workdir.")
_LIST = flags.DEFINE_bool("list_experiments", False,
                          "List the experiments with their first line and exit.")


def fail(message: str) -> None:
  """Ends the program with a one-line error and exit status 2."""
  print(f"jaxmem: error: {' '.join(str(message).split())}", file=sys.stderr)
  sys.exit(2)


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
      path = experiment.module_path(name)
      _check_config_keys(argv, experiment.load(name))
      argv = argv[:1] + [f"--config={path}"] + argv[1:]
    return flags.FLAGS(argv)
  except flags.UnrecognizedFlagError as e:
    fail(f"{_first_line(e)}; valid flags: --experiment, --workdir, "
         "--config.KEY=VALUE, --data_dir, --overwrite, --list_experiments, and "
         "for jaxmem.analyze and jaxmem.report --out, --knn_k, "
         "--critical_examples, --fit_threshold (--helpfull lists all)")
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    fail(_first_line(e))  # UserError is a ValueError.


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


def _first_line(e: Exception) -> str:
  text = str(e).strip()
  return text.splitlines()[0] if text else type(e).__name__


def list_experiments() -> str:
  lines = []
  for name in experiment.names():
    doc = (experiment.module(name).__doc__ or "").strip()
    lines.append(f"{name:28s} {doc.splitlines()[0] if doc else ''}")
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; flags look like --name=value")
  if _LIST.value:
    print(list_experiments())
    return
  from jaxmem import train  # pylint: disable=g-import-not-at-top
  if _WORKDIR.value and len(_WORKDIR.value) > 1:
    fail(f"training takes one --workdir, got {len(_WORKDIR.value)}")
  workdir = _WORKDIR.value[0] if _WORKDIR.value else f"runs/{_EXPERIMENT.value}"
  try:
    result = train.run(_CONFIG.value, workdir, data_dir=_DATA_DIR.value,
                       overwrite=_OVERWRITE.value)
  except errors.UserError as e:
    fail(str(e))
  print(f"\n{_EXPERIMENT.value}: final accuracy, mean +- std over seeds "
        f"({result['train_s']:.1f} s training, {result['compile_s']:.1f} s "
        f"compiling)\n{summary.table(result)}\n\nresults in {workdir}/")


def _analysis_args(argv: list[str], what: str) -> dict:
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; flags look like --name=value")
  if not _WORKDIR.value:
    fail(f"{what} needs --workdir=W (one or more)")
  return dict(out=_OUT.value, data_dir=_DATA_DIR.value, k=_KNN_K.value,
              critical_examples=_CRITICAL_EXAMPLES.value)


def report_main(argv: list[str]) -> None:
  """`python -m jaxmem.report --workdir=W [--workdir=W2 --out=DIR]`."""
  args = _analysis_args(argv, "a report")
  from jaxmem import report  # pylint: disable=g-import-not-at-top
  try:
    path = report.write(_WORKDIR.value, threshold=_FIT_THRESHOLD.value, **args)
  except errors.UserError as e:
    fail(str(e))
  print(f"report written to {path}")


def analyze_main(argv: list[str]) -> None:
  """`python -m jaxmem.analyze --workdir=W [--workdir=W2 --out=DIR]`."""
  args = _analysis_args(argv, "an analysis")
  from jaxmem import analyze  # pylint: disable=g-import-not-at-top
  try:
    result = analyze.run(_WORKDIR.value, **args)
  except errors.UserError as e:
    fail(str(e))
  print("Spearman rank correlations between hardness measures (larger = harder):\n"
        f"{analyze.correlation_table(result.names, result.correlations)}\n\n"
        f"difficulty table and correlations written to {result.folder}/")


class _QuietLibraries(std_logging.Filter):
  """Passes warnings from everyone, INFO only from jaxmem's own modules."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING
            or "/orbax/" not in record.pathname.replace("\\", "/"))


def _compile_cache() -> None:
  """Turns on JAX's persistent compilation cache, so a repeated sweep skips compiling.

  In $JAXMEM_COMPILE_CACHE, else <$JAXMEM_CACHE_DIR or ~/.cache/jaxmem>/xla;
  JAXMEM_COMPILE_CACHE=off turns it off.
  """
  path = os.environ.get("JAXMEM_COMPILE_CACHE") or os.path.join(
      os.path.expanduser(os.environ.get("JAXMEM_CACHE_DIR") or "~/.cache/jaxmem"),
      "xla")
  if path.lower() == "off":
    return
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _cpu_devices() -> None:
  """On CPU, one XLA device per core, so that cores train different lanes at
  once ($JAXMEM_CPU_DEVICES sets the count; 1 keeps one device)."""
  from jaxmem import execution  # pylint: disable=g-import-not-at-top
  count = os.environ.get("JAXMEM_CPU_DEVICES", "")
  if not count.isdigit() and count:
    fail(f"JAXMEM_CPU_DEVICES={count!r}: valid: a positive integer, or unset "
         "(one device per core)")
  execution.split_host(int(count) if count else None)


def _setup_process() -> None:
  """Compilation cache, CPU devices and progress logging, for every entry point."""
  _compile_cache()
  _cpu_devices()
  logging.set_verbosity(logging.INFO)
  # JAX logs at INFO that it looked for a TPU, and Orbax every step of every
  # save: keep their warnings, drop their chatter from the progress output.
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
  logging.get_absl_handler().addFilter(_QuietLibraries())


def run_report() -> None:
  """Entry point of `python -m jaxmem.report`."""
  _setup_process()
  app.run(report_main, flags_parser=parse_flags)


def run_analyze() -> None:
  """Entry point of `python -m jaxmem.analyze`."""
  _setup_process()
  app.run(analyze_main, flags_parser=parse_flags)


def run() -> None:
  """Console entry point."""
  _setup_process()
  app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
  run()
