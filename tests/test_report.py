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
  groups = {"clean labels": "clean_labels", "uniform label noise 0.5":
            "uniform_label_noise_0_5", "random labels": "random_labels"}
  pngs = ["learning_curves", "corruption"] + [
      f"{tag}_{png}" for tag in groups.values()
      for png in ("forgetting", "depth", "examples_forgetting_mean")]
  for png in pngs:
    png = f"{path.name}_{png}.png"
    assert f"]({png})" in text
    assert (path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "critical_ratio.png" not in text  # Not measured in this run.
  # A per-example section per labels distribution, in the grid's order; each
  # links the difficulty table and shows its own correlations.
  titles = [l for l in text.splitlines() if l.startswith("## Per-example difficulty")]
  assert titles == [f"## Per-example difficulty: {path.name}, {g}" for g in groups]
  assert "](../analysis/difficulty.csv)" in text
  assert (path / "analysis" / "difficulty.parquet").exists()
  cols = table.read_csv(path / "analysis" / "difficulty.csv")
  for group in groups:
    section = text.split(f"{path.name}, {group}\n")[1].split("\n## ")[0]
    mine = cols["group"] == group
    rho = scipy.stats.spearmanr(cols["forgetting_mean"][mine], cols["final_error"][mine])[0]
    row = next(l for l in section.splitlines() if l.startswith("| forgetting_mean |"))
    header = next(l for l in section.splitlines() if l.startswith("| | forgetting_mean"))
    cells = dict(zip(header.strip("|").split("|")[1:], row.strip("|").split("|")[1:]))
    assert cells[" final_error "].strip() == f"{rho:+.2f}"
    # Corrupted labels: a detection table; none for the clean ones.
    assert ("| score | AUROC per lane |" in section) == (group != "clean labels")


def test_the_table_pools_only_lanes_of_one_labels_distribution(corruption_run):
  """Each group's forgetting is the mean over its own lanes only (computed
  here from examples.npz); pooling every lane, as jaxmem 0.3.0 did, is the
  explicit pool_all and differs."""
  path, _ = corruption_run
  ex = files.Workdir(path).read_examples()
  level = np.repeat([0.0, 0.5, 1.0], 2)  # Grid-major, 2 seeds.
  frame = jaxmem.open(path).difficulty()
  for value, group in ((0.0, "clean labels"), (0.5, "uniform label noise 0.5"),
                       (1.0, "random labels")):
    mine = frame[frame.group == group]
    expected = ex["forgetting"][level == value].mean(axis=0)
    np.testing.assert_allclose(mine["forgetting_mean"], expected, rtol=1e-6)
    assert (mine["lanes"] == 2).all()
  pooled = jaxmem.open(path).difficulty(pool_all=True, out=str(path / "pooled"))
  assert set(pooled.group) == {"all lanes"} and (pooled["lanes"] == 6).all()
  np.testing.assert_allclose(pooled["forgetting_mean"], ex["forgetting"].mean(axis=0),
                             rtol=1e-6)
  clean = frame[frame.group == "clean labels"]["forgetting_mean"].to_numpy()
  assert not np.allclose(pooled["forgetting_mean"], clean)


def test_the_quickstarts_report_has_a_section_per_condition(tmp_path):
  """The quickstart (two seeds, two epochs, 300 images): five conditions,
  five per-example sections, not one pooled table."""
  from jaxmem import sweeps  # pylint: disable=g-import-not-at-top
  c = sweeps.load("quickstart")
  c.num_seeds, c.num_epochs, c.train_size = 2, 2, 300
  jaxmem.train(c, str(tmp_path / "quickstart"))
  text = report.write([str(tmp_path / "quickstart")], k=5, critical_examples=0).read_text()
  titles = [l.split(", ", 1)[1] for l in text.splitlines()
            if l.startswith("## Per-example difficulty")]
  assert titles == ["clean labels", "random labels", "clean labels, shuffled pixels",
                    "clean labels, random pixels", "clean labels, gaussian"]


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
  assert text.count("## ") == 3
  assert "## Per-example difficulty: synthetic_pooled, clean labels" in text
  assert "pooled over 4 lanes of seeds_0_1, seeds_2_3" in text
  pooled = table.read_csv(tmp_path / "pooled" / "synthetic_pooled_analysis" / "difficulty.csv")
  report.write([str(tmp_path / "whole")], k=5)
  whole = table.read_csv(tmp_path / "whole" / "analysis" / "difficulty.csv")
  assert pooled.keys() == whole.keys() and "cscore" in whole
  assert list(pooled.pop("group")) == list(whole.pop("group"))
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
