"""The guides build as a site (Sphinx with MyST), with warnings as errors: a
broken link, a missing page or section, or a page nothing links fails it."""

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _build(source: pathlib.Path, out: pathlib.Path) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
                         "-b", "html", str(source), str(out)],
                        capture_output=True, text=True, timeout=300)


def test_the_docs_build_without_a_warning(tmp_path):
  done = _build(ROOT / "docs", tmp_path / "site")
  assert done.returncode == 0, done.stderr[-3000:]
  for page in ("index", "guides/workdir", "guides/extending", "results/toneva"):
    assert (tmp_path / "site" / f"{page}.html").exists(), page


def test_a_broken_link_fails_the_build(tmp_path):
  docs = tmp_path / "docs"
  shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build"))
  with open(docs / "guides" / "data.md", "a") as f:
    f.write("\nSee [the old page](../gone.md) and [a section](../benchmarks.md#nowhere).\n")
  done = _build(docs, tmp_path / "site")
  assert done.returncode != 0
  assert "gone.md" in done.stderr and "nowhere" in done.stderr


def test_the_worked_example_runs_as_a_user_would(tmp_path):
  """docs/examples/own_model_and_data.py: its own model and data, swept over
  learning rates x label corruption x 8 seeds, opened, plotted, used."""
  done = subprocess.run([sys.executable, str(ROOT / "docs" / "examples" /
                                             "own_model_and_data.py"), str(tmp_path)],
                        capture_output=True, text=True, timeout=300, cwd=tmp_path)
  assert done.returncode == 0, done.stderr[-3000:]
  summary = (tmp_path / "run" / "summary.json").read_text()
  assert summary.count('"lane":') == 32
  assert (tmp_path / "test_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert not (ROOT / "my_models.py").exists()  # Its model lives outside the package.
  noisy = next(l for l in done.stdout.splitlines() if l.startswith("noisy lanes:"))
  most, overall = [int(w.rstrip("%")) for w in noisy.split() if w.endswith("%")]
  assert most > overall + 20  # The records find the corrupted labels.
