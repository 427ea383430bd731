"""jaxmem.analyze end to end on real USPS digits: the command, its files, its cache."""

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

import jaxmem
from jaxmem import config as config_lib
from jaxmem import errors
from jaxmem import sweeps
from jaxmem.analysis import difficulty
from jaxmem.analysis import table
from jaxmem.measures.critical import sample as table_sample


def _usps(**overrides):
  c = sweeps.load("difficulty_usps")
  c.unlock()
  c.update({**dict(train_size=512, test_size=256, model="mlp", mlp_widths=(32,),
                  num_seeds=4, num_epochs=3, batch_size=32), **overrides})
  c.critical.update(dict(examples=64, iterations=10, every_epochs=0))
  return c


def _analyze(*args):
  env = dict(os.environ, JAXMEM_OFFLINE="1")
  return subprocess.run([sys.executable, "-m", "jaxmem", "analyze", *args],
                        capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def usps_runs(tmp_path_factory):
  paths = []
  for ratio in (0.25, 0.5):
    path = tmp_path_factory.mktemp(f"usps_{ratio}")
    jaxmem.train(_usps(subset_ratio=ratio), str(path))
    paths.append(path)
  return paths


def test_analyze_command_pools_subset_runs_into_one_table(usps_runs, tmp_path):
  out = _analyze(*(f"--workdir={p}" for p in usps_runs), f"--out={tmp_path}",
                 "--critical_examples=32", "--knn_k=5")
  assert out.returncode == 0, out.stderr[-2000:]
  cols = table.read_csv(tmp_path / "difficulty.csv")
  # The printed correlations are SciPy's Spearman of the table's columns (the
  # C-score entering as 1 - C-score: larger is harder).
  keep = np.isfinite(cols["forgetting_mean"]) & np.isfinite(cols["cscore"])
  rho = scipy.stats.spearmanr(cols["forgetting_mean"][keep], -cols["cscore"][keep])[0]
  row = next(l for l in out.stdout.splitlines() if l.startswith("| forgetting_mean |"))
  header = next(l for l in out.stdout.splitlines() if l.startswith("| |"))
  cells = dict(zip(header.strip("|").split("|")[1:], row.strip("|").split("|")[1:]))
  assert cells[" cscore "].strip() == f"{rho:+.2f}"
  assert len(cols["index"]) == 512
  np.testing.assert_array_equal(cols["index"], np.arange(512))
  # An example gets a C-score where some lane held it out, and training-history
  # measures where some lane trained on it (with 8 lanes, some have none).
  held_out = np.isfinite(cols["cscore"])
  assert held_out.mean() > 0.9
  assert np.all((cols["cscore"][held_out] >= 0) & (cols["cscore"][held_out] <= 1))
  trained = cols["lanes"] >= 1
  assert trained.mean() > 0.9
  np.testing.assert_array_equal(np.isfinite(cols["forgetting_mean"]), trained)
  # 32 examples searched for critical samples, the rest left blank.
  assert np.isfinite(cols["critical_frac"]).sum() == trained[table_sample(512, 32)].sum()
  depth = cols["depth_mean"][trained]
  assert np.all((depth >= 0) & (depth <= 3))
  # Hard examples by forgetting are hard by C-score too, even after 3 epochs.
  names, matrix = table.correlations(cols)
  assert matrix[names.index("forgetting_mean"), names.index("cscore")] > 0


def test_lane_measures_are_cached_by_stage_and_recomputed_when_settings_change(
    usps_runs, caplog):
  path = usps_runs[0]
  caplog.set_level(logging.INFO)
  caplog.set_level(logging.INFO, logger="absl")
  first = difficulty.lane_measures(path, k=5, critical_examples=16)
  assert "prediction depth (k=5): 4/4 lanes" in caplog.text and "ETA" in caplog.text
  depth, critical = path / "analysis" / "depth.npz", path / "analysis" / "critical.npz"
  stamps = depth.stat().st_mtime_ns, critical.stat().st_mtime_ns
  again = difficulty.lane_measures(path, k=5, critical_examples=16)
  assert (depth.stat().st_mtime_ns, critical.stat().st_mtime_ns) == stamps  # Read.
  np.testing.assert_array_equal(first["depth"], again["depth"])
  other = difficulty.lane_measures(path, k=3, critical_examples=16)
  assert depth.stat().st_mtime_ns != stamps[0] and other["depth"].shape == (4, 512)
  assert critical.stat().st_mtime_ns == stamps[1]  # Its settings did not change.


def test_a_run_that_measured_depth_itself_is_not_measured_again(tmp_path):
  c = _usps(subset_ratio=0.5, num_seeds=2)
  c.depth.k = 5
  jaxmem.train(c, str(tmp_path))
  measured = difficulty.lane_measures(tmp_path, k=5, critical_examples=0)
  assert not (tmp_path / "analysis" / "depth.npz").exists()  # Taken from examples.npz.
  # The analysis's own computation from the final checkpoint gives the same:
  np.testing.assert_array_equal(
      measured["depth"], difficulty._depths(  # pylint: disable=protected-access
          difficulty._LazyRun(tmp_path, None)(), 5))  # pylint: disable=protected-access


def test_bad_analysis_input(usps_runs, tmp_path):
  with pytest.raises(errors.UserError, match="--out"):
    difficulty.analyze([str(p) for p in usps_runs])
  with pytest.raises(errors.UserError, match="--knn_k=0: valid: 1.."):
    difficulty.analyze([str(usps_runs[0])], k=0)
  bad = _analyze(f"--workdir={tmp_path / 'nothing'}")
  assert bad.returncode == 2 and "holds no finished run" in bad.stderr
  assert len(bad.stderr.strip().splitlines()) == 1
