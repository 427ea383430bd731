"""The `jaxmem` executable: `jaxmem [train|analyze|report] --flags`.

Imports exactly one command module (each defines its own flags, so they
cannot share a process): jaxmem.main (train, the default), jaxmem.analyze or
jaxmem.report.
"""

import importlib
import sys

COMMANDS = {"train": "jaxmem.commands.train", "analyze": "jaxmem.commands.analyze",
            "report": "jaxmem.commands.report"}


def run() -> None:
  """Console entry point."""
  name = "train"
  if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
    name = sys.argv.pop(1)
  importlib.import_module(COMMANDS[name]).run()


if __name__ == "__main__":
  run()
