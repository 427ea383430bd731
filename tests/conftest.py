"""Test-wide settings: never touch the network; real data from ../shared/data."""

import os
import pathlib

# Tests never download: a missing file must fail loudly, not fetch.
os.environ["JAXMEM_OFFLINE"] = "1"
# Identical programs (most tests train the same tiny config) compile once per
# machine: JAX's persistent cache, as the commands use it, for in-process runs.
os.environ.setdefault(
    "JAXMEM_COMPILE_CACHE",
    os.path.join(os.path.expanduser(os.environ.get("JAXMEM_CACHE_DIR") or
                                    "~/.cache/jaxmem"), "xla"))
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
if os.environ["JAXMEM_COMPILE_CACHE"].lower() != "off":
  jax.config.update("jax_compilation_cache_dir", os.environ["JAXMEM_COMPILE_CACHE"])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

# The real data sets (USPS, CIFAR-10 JPEG) live beside the checkout.
os.environ.setdefault(
    "JAXMEM_DATA_DIR",
    str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))


import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory):
  """tests.processes.SLOW_TINY trained from start to end, never interrupted."""
  from tests import processes  # pylint: disable=g-import-not-at-top

  def make(path):
    assert processes.finish(processes.start(path)) == 0
    assert processes.SCORE_RECORDS <= set(np.load(path / "examples.npz"))
  return processes.made_once(tmp_path_factory, "uninterrupted", make)


@pytest.fixture(scope="session")
def uninterrupted_no_history(tmp_path_factory):
  """The same, with config.record_history=off."""
  from tests import processes  # pylint: disable=g-import-not-at-top
  return processes.made_once(tmp_path_factory, "uninterrupted_no_history", lambda path: (
      processes.finish(processes.start(path, "--config.record_history=off")) == 0
      or pytest.fail("the reference run failed")))


@pytest.fixture
def info_log(caplog):
  """caplog with jaxmem's INFO progress lines (absl's logger), to read what a
  run says it did: `tests.processes.resumed_from(info_log.text)`."""
  import logging  # pylint: disable=g-import-not-at-top
  caplog.set_level(logging.INFO, logger="absl")
  return caplog
