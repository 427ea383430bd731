"""jaxmem's version: the one constant that setup.cfg, `--version`, the workdir
marker and config.json read."""

__version__ = "0.3.0"
