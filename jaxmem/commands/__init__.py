"""The command line: `jaxmem [train|analyze|report] --flags`, and `--version`.

A file here is one command: it defines its absl flags (and nothing else
does) and a `run()` entry point, and the library does its work; `common`
holds what they share (one-line errors, flag parsing, process setup). The
dispatcher imports exactly one command module, since each defines its own
flags and they cannot share a process: train (the default), analyze, report.
"""

import importlib
import sys

COMMANDS = {"train": "jaxmem.commands.train", "analyze": "jaxmem.commands.analyze",
            "report": "jaxmem.commands.report"}


def run() -> None:
  """Console entry point."""
  if sys.argv[1:] == ["--version"]:
    from jaxmem import version  # pylint: disable=g-import-not-at-top
    print(f"jaxmem {version.__version__}")
    return
  name = "train"
  if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
    name = sys.argv.pop(1)
  importlib.import_module(COMMANDS[name]).run()
