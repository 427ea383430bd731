"""What every jaxmem command shares: one-line errors, flag parsing, process setup.

The commands are entry modules, each owning its flags: `jaxmem` (train,
jaxmem.commands.train), `jaxmem analyze` and `jaxmem report`. They import the
library and this module; nothing below them imports a command.
"""

import logging as std_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging


def fail(message) -> None:
  """Ends the program with a one-line error and exit status 2."""
  print(f"jaxmem: error: {' '.join(str(message).split())}", file=sys.stderr)
  sys.exit(2)


def first_line(e: Exception) -> str:
  text = str(e).strip()
  return text.splitlines()[0] if text else type(e).__name__


def own_flags(module_name: str) -> list[str]:
  """The flags a command module defines, as `--name`, in definition order."""
  return [f"--{f.name}" for f in flags.FLAGS.get_flags_for_module(module_name)]


def parse(argv: list[str], command: str, valid: list[str]) -> list[str]:
  """Parses `argv` into absl's FLAGS; any error is one line naming `valid`."""
  try:
    return flags.FLAGS(argv)
  except flags.UnrecognizedFlagError as e:
    fail(f"{first_line(e)}; valid flags of {command}: {', '.join(valid)}")
  except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
    fail(first_line(e))


def no_arguments(argv: list[str]) -> None:
  if len(argv) > 1:
    fail(f"unexpected arguments {argv[1:]}; flags look like --name=value")


class _QuietLibraries(std_logging.Filter):
  """Passes jaxmem's own records and Orbax's warnings (not its errors)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    if "/orbax/" not in record.pathname.replace("\\", "/"):
      return True
    # Orbax logs a failed save with tracebacks (from its threads, and again
    # when waited for); jaxmem.workdir.checkpoint reports it in one line instead.
    return record.levelno == std_logging.WARNING


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
  # Every program, however quick to compile: a run's small programs (its
  # setup, the evaluation) took 0.1-0.2 s each to compile, and loading them
  # takes milliseconds; a tiny run went from 3.8 to 2.7 s.
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _cpu_devices() -> None:
  """On CPU, one XLA device per core, so that cores train different lanes at
  once ($JAXMEM_CPU_DEVICES sets the count; 1 keeps one device)."""
  from jaxmem import execution  # pylint: disable=g-import-not-at-top
  count = os.environ.get("JAXMEM_CPU_DEVICES", "")
  if not count.isdigit() and count:
    fail(f"JAXMEM_CPU_DEVICES={count!r}: valid: a positive integer, or unset "
         "(one device per core)")
  execution.split_host(int(count) if count else None)


def setup_process() -> None:
  """Compilation cache, CPU devices and progress logging, for every command."""
  _compile_cache()
  _cpu_devices()
  logging.set_verbosity(logging.INFO)
  # JAX logs at INFO that it looked for a TPU, and Orbax every step of every
  # save: keep their warnings, drop their chatter from the progress output.
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
  logging.get_absl_handler().addFilter(_QuietLibraries())


def run(command, flags_parser) -> None:
  """Runs a command under absl; Ctrl-C outside training (which stops with a
  checkpoint) ends it with one line and status 130."""
  setup_process()
  try:
    app.run(command, flags_parser=flags_parser)
  except KeyboardInterrupt:
    print("jaxmem: interrupted (SIGINT); nothing was left half-written",
          file=sys.stderr)
    sys.exit(130)
