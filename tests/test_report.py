"""Reports from finished workdirs: tables that match summary.json, and figures."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats

import jaxmem
from jaxmem import errors
from jaxmem import report
from jaxmem.analysis import table
from jaxmem.workdir import files
from tests.test_train import tiny


@pytest.fixture(scope="module")
def corruption_run(tmp_path_factory):
  c = tiny(num_epochs=3)
  c.grid.label_corruption = (0.0, 0.5, 1.0)
  path = tmp_path_factory.mktemp("run")
  return path, jaxmem.train(c, str(path))


def test_report_tables_and_figures(corruption_run):
  path, _ = corruption_run
  md = report.write([str(path)], threshold=0.3)
  text = md.read_text()
  assert md == path / "report" / "report.md"
  # Each grid point's mean +- std over seeds, computed here from metrics.jsonl.
  rows = files.Workdir(path).read_metrics()
  for level in (0.0, 0.5, 1.0):
    for metric in ("train_acc", "test_acc"):
      final = [r[metric] for r in rows if r["epoch"] == 3 and r["label_corruption"] == level]
      assert len(final) == 2
      mean, std = 100 * np.mean(final), 100 * np.std(final, ddof=1)
      assert f"{mean:.2f} +- {std:.2f}" in text.split(f"| {level} | 2 |")[1].split("\n")[0]
  for png in ("learning_curves", "corruption", "forgetting", "depth",
              "examples_forgetting_mean"):
    png = f"{path.name}_{png}.png"
    assert f"]({png})" in text
    assert (path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "critical_ratio.png" not in text  # Not measured in this run.
  # The per-example section links the difficulty table and shows its correlations.
  assert "](../analysis/difficulty.csv)" in text
  assert (path / "analysis" / "difficulty.parquet").exists()
  cols = table.read_csv(path / "analysis" / "difficulty.csv")
  rho = scipy.stats.spearmanr(cols["forgetting_mean"], cols["final_error"])[0]
  row = next(l for l in text.splitlines() if l.startswith("| forgetting_mean |"))
  header = next(l for l in text.splitlines() if l.startswith("| | forgetting_mean"))
  cells = dict(zip(header.strip("|").split("|")[1:], row.strip("|").split("|")[1:]))
  assert cells[" final_error "].strip() == f"{rho:+.2f}"


def test_report_on_several_workdirs_needs_out_and_a_finished_run(corruption_run, tmp_path):
  path, _ = corruption_run
  with pytest.raises(errors.UserError, match="--out"):
    report.write([str(path), str(path)])
  with pytest.raises(errors.UserError, match="no finished run"):
    report.write([str(tmp_path)])


def test_a_sweeps_seeds_split_over_jobs_pool_into_the_table_of_one_run(tmp_path):
  """The README's case: seeds 0-1 and 2-3 trained as two jobs (first_seed),
  pooled by the report, give the per-example table of one run of seeds 0-3."""
  c = lambda **kw: tiny(num_epochs=3, subset_ratio=0.5, **kw)
  jaxmem.train(c(num_seeds=2), str(tmp_path / "seeds_0_1"))
  jaxmem.train(c(num_seeds=2, first_seed=2), str(tmp_path / "seeds_2_3"))
  jaxmem.train(c(num_seeds=4), str(tmp_path / "whole"))
  md = report.write([str(tmp_path / "seeds_0_1"), str(tmp_path / "seeds_2_3")],
                       out=str(tmp_path / "pooled"), k=5)
  text = md.read_text()
  assert text.count("## ") == 3 and "## Per-example difficulty: synthetic_pooled" in text
  assert "pooled over 4 lanes of seeds_0_1, seeds_2_3" in text
  pooled = table.read_csv(tmp_path / "pooled" / "synthetic_pooled_analysis" / "difficulty.csv")
  report.write([str(tmp_path / "whole")], k=5)
  whole = table.read_csv(tmp_path / "whole" / "analysis" / "difficulty.csv")
  assert pooled.keys() == whole.keys() and "cscore" in whole
  for key in whole:
    np.testing.assert_allclose(pooled[key], whole[key], rtol=1e-6, err_msg=key)
  assert np.isfinite(whole["cscore"]).sum() > 100  # Half of each lane's held out.


def test_report_command_line(corruption_run, tmp_path):
  path, _ = corruption_run
  out = subprocess.run([sys.executable, "-m", "jaxmem", "report", f"--workdir={path}",
                        f"--out={tmp_path / 'r'}"], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert (tmp_path / "r" / "report.md").exists()
  bad = subprocess.run([sys.executable, "-m", "jaxmem", "report", f"--workdir={tmp_path / 'none'}"],
                       capture_output=True, text=True, timeout=120)
  assert bad.returncode == 2 and "no finished run" in bad.stderr


def test_report_without_checkpoints_still_has_the_run_tables(corruption_run, tmp_path):
  path, summary = corruption_run
  copy = tmp_path / "copy"
  shutil.copytree(path, copy, ignore=shutil.ignore_patterns("checkpoints", "analysis",
                                                            "report"))
  text = report.write([str(copy)]).read_text()
  level = summary["points"][0]["coords"]["label_corruption"]
  assert f"| {level} | 2 |" in text and "_learning_curves.png" in text
  assert "Not available:" in text and "no final checkpoint" in text
