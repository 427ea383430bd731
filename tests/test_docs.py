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
