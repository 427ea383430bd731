"""jaxmem: memorization and generalization experiments, many runs per compiled program."""

__version__ = "0.1.0"
