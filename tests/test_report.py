"""Reports from finished workdirs: tables that match summary.json, and figures."""

import shutil
import subprocess
import sys

import pytest

from jaxmem import errors
from jaxmem import reporting
from jaxmem import train
from tests.test_train import tiny


@pytest.fixture(scope="module")
def corruption_run(tmp_path_factory):
  c = tiny(num_epochs=3)
  c.grid.label_corruption = (0.0, 0.5, 1.0)
  path = tmp_path_factory.mktemp("run")
  return path, train.run(c, str(path))


def test_report_tables_and_figures(corruption_run):
  path, summary = corruption_run
  md = reporting.write([str(path)], threshold=0.3)
  text = md.read_text()
  assert md == path / "report" / "report.md"
  for point in summary["points"]:
    level, acc = point["coords"]["label_corruption"], point["test_acc"]
    assert f"| {level} | 2 |" in text
    assert f"{100 * acc['mean']:.2f} +- {100 * acc['std']:.2f}" in text
  for png in ("learning_curves", "corruption", "forgetting", "depth",
              "examples_forgetting_mean"):
    png = f"{path.name}_{png}.png"
    assert f"]({png})" in text
    assert (path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "critical_ratio.png" not in text  # Not measured in this run.
  # The per-example section links the difficulty table and shows its correlations.
  assert "](../analysis/difficulty.csv)" in text
  assert (path / "analysis" / "difficulty.parquet").exists()
  assert "| forgetting_mean | +1.00 |" in text


def test_report_on_several_workdirs_needs_out_and_a_finished_run(corruption_run, tmp_path):
  path, _ = corruption_run
  with pytest.raises(errors.UserError, match="--out"):
    reporting.write([str(path), str(path)])
  with pytest.raises(errors.UserError, match="no finished run"):
    reporting.write([str(tmp_path)])
  md = reporting.write([str(path), str(path)], out=str(tmp_path / "both"))
  text = md.read_text()
  # Two run sections, and one per-example section pooling both (same data).
  assert text.count("## ") == 3 and "## Per-example difficulty: synthetic_pooled" in text
  assert "pooled over 12 lanes" in text  # 3 levels x 2 seeds each.
  assert (tmp_path / "both" / "synthetic_pooled_analysis" / "difficulty.csv").exists()


def test_report_command_line(corruption_run, tmp_path):
  path, _ = corruption_run
  out = subprocess.run([sys.executable, "-m", "jaxmem.report", f"--workdir={path}",
                        f"--out={tmp_path / 'r'}"], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert (tmp_path / "r" / "report.md").exists()
  bad = subprocess.run([sys.executable, "-m", "jaxmem.report", f"--workdir={tmp_path / 'none'}"],
                       capture_output=True, text=True, timeout=120)
  assert bad.returncode == 2 and "no finished run" in bad.stderr


def test_report_without_checkpoints_still_has_the_run_tables(corruption_run, tmp_path):
  path, summary = corruption_run
  copy = tmp_path / "copy"
  shutil.copytree(path, copy, ignore=shutil.ignore_patterns("checkpoints", "analysis",
                                                            "report"))
  text = reporting.write([str(copy)]).read_text()
  level = summary["points"][0]["coords"]["label_corruption"]
  assert f"| {level} | 2 |" in text and "_learning_curves.png" in text
  assert "Not available:" in text and "no final checkpoint" in text
