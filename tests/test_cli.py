"""The command line: bad input ends with one line, exit status 2, nothing written."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from jaxmem import config as config_lib
from jaxmem import errors
from jaxmem import sweeps
from tests import bad_inputs
from tests import processes


def jaxmem(*args, env=None, cwd=None):
  full_env = dict(os.environ, JAXMEM_OFFLINE="1", **(env or {}))
  return subprocess.run([sys.executable, "-m", "jaxmem", *args], capture_output=True,
                        text=True, env=full_env, cwd=cwd, timeout=300)


def test_list_experiments_names_every_sweep():
  out = jaxmem("--list_experiments")
  assert out.returncode == 0
  for name in ("quickstart", "zhang_usps", "zhang_corruption_usps", "lecun1989_usps",
               "zhang_cifar10_mlp"):
    assert name in out.stdout
  assert set(sweeps.names()) >= {"quickstart", "lecun1989_usps"}


@pytest.mark.parametrize("name", sweeps.names())
def test_every_sweep_is_valid(name, tmp_path):
  """Each sweep's config passes validation and expands to its lanes, and its
  docstring gives the command that runs it. A pruning sweep takes its score
  file on the command line: without one it is refused, with one it passes."""
  from jaxmem import lanes  # pylint: disable=g-import-not-at-top
  config = sweeps.load(name)
  if any(":" in p for p in config.grid.prune) and not config.pruning.scores:
    with pytest.raises(errors.UserError, match="needs a score file"):
      config_lib.validate(config)
    config.unlock()
    config.pruning.scores = str(tmp_path / "scores.csv")
    (tmp_path / "scores.csv").write_text(
        "index,el2n_e2_mean,forgetting_mean,aum_mean\n0,0.1,1,2.0\n")
  config_lib.validate(config)
  assert len(lanes.expand(config)) >= config.num_seeds
  assert f"--experiment={name}" in sweeps.module(name).__doc__


DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"


def _snapshot(folder: pathlib.Path) -> dict:
  """Every path under `folder`, with a file's bytes (or a link's target)."""
  return {str(p): (os.readlink(p) if p.is_symlink() else
                   p.read_bytes() if p.is_file() else "folder")
          for p in sorted(folder.rglob("*"))}


_CLI_CASES = [c for c in bad_inputs.CASES if c[0] not in bad_inputs.IN_PROCESS]
_CONFIG_CASES = [c for c in bad_inputs.CASES if c[0] in bad_inputs.IN_PROCESS]


@pytest.mark.parametrize("what,args,needle", _CONFIG_CASES,
                         ids=[c[0] for c in _CONFIG_CASES])
def test_bad_config_values_are_refused_by_validation(what, args, needle):
  """Refused by the config's validation, with the message the command prints
  (docs/bad_inputs.md, made by the command line)."""
  with pytest.raises(errors.UserError) as caught:
    config_lib.validate(bad_inputs.config_of(args))
  message = f"jaxmem: error: {' '.join(str(caught.value).split())}"
  assert needle in message
  assert f"| {what} | `{message}` |" in DOC.read_text()


@pytest.mark.parametrize("what,args,needle", _CLI_CASES, ids=[c[0] for c in _CLI_CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, what, args, needle):
  """One line, exit 2, nothing written anywhere under the case's folder
  (its own --workdir included), and nothing compiled: JAX_LOG_COMPILES makes
  any compilation print lines of its own."""
  workdir = tmp_path / "run"
  resolved = bad_inputs.resolve(args, tmp_path)
  before = _snapshot(tmp_path)
  status, lines = bad_inputs.run_case(resolved, workdir)
  assert status == 2, lines[-20:]
  assert len(lines) == 1, lines[-20:]
  assert lines[0].startswith("jaxmem: error:")
  assert needle in lines[0]
  assert _snapshot(tmp_path) == before  # Failed before anything was written.
  # docs/bad_inputs.md shows this very message (scripts/bad_inputs.py).
  assert f"| {what} | `{bad_inputs.shown(lines[0], tmp_path)}` |" in DOC.read_text()


def test_a_tiny_run_from_the_command_line(tmp_path):
  """A run, a refusal to overwrite it, --overwrite; an override given twice
  takes its last value, tuples too (ml_collections alone would append them)."""
  TINY = bad_inputs.TINY
  out = jaxmem(*TINY, "--config.mlp_widths=(4,)", "--config.mlp_widths=(6,)",
               f"--workdir={tmp_path / 'run'}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "test acc %" in out.stdout
  assert (tmp_path / "run" / "summary.json").exists()
  described = json.loads((tmp_path / "run" / "config.json").read_text())
  assert described["config"]["mlp_widths"] == [6] and described["config"]["num_epochs"] == 1
  again = jaxmem(*TINY, f"--workdir={tmp_path / 'run'}")  # Refuses to overwrite.
  assert again.returncode == 2 and "--overwrite" in again.stderr
  assert jaxmem(*TINY, f"--workdir={tmp_path / 'run'}", "--overwrite").returncode == 0


@pytest.fixture(scope="module")
def finished_tiny(tmp_path_factory):
  """A finished tiny run, made once for the test run (the cases only read it)."""
  def make(path):
    assert jaxmem(*bad_inputs.TINY, f"--workdir={path}").returncode == 0
  return processes.made_once(tmp_path_factory, "finished_tiny", make)


@pytest.mark.parametrize("what,command,args,needle", bad_inputs.ANALYSIS_CASES,
                         ids=[c[0] for c in bad_inputs.ANALYSIS_CASES])
def test_bad_analysis_flags_are_one_line_before_any_work(finished_tiny, what, command,
                                                         args, needle):
  before = sorted(str(p) for p in finished_tiny.rglob("*"))
  status, lines = bad_inputs.run_analysis_case(command, args, finished_tiny)
  assert status == 2, lines[-20:]
  assert len(lines) == 1, lines[-20:]
  assert lines[0].startswith("jaxmem: error:") and needle in lines[0]
  assert sorted(str(p) for p in finished_tiny.rglob("*")) == before  # No work.
  shown = lines[0].replace(str(finished_tiny), "<run>")
  assert f"| {what} | `{shown}` |" in DOC.read_text()


@pytest.mark.parametrize("what,call,needle", bad_inputs.PYTHON_CASES,
                         ids=[c[0] for c in bad_inputs.PYTHON_CASES])
def test_bad_calls_of_open_are_one_line(finished_tiny, what, call, needle):
  message = bad_inputs.run_python_case(call, finished_tiny)
  assert needle in message and "\n" not in message
  assert f"| {what} | `{call}` | `{message}` |" in DOC.read_text()


def test_every_fault_in_the_table_is_a_test():
  """docs/bad_inputs.md's fault table lists tests/faults.py, and each row names
  a test that exists."""
  import importlib  # pylint: disable=g-import-not-at-top
  from tests import faults  # pylint: disable=g-import-not-at-top
  text = DOC.read_text()
  for row in faults.FAULTS:
    module, name = row.test.split("::")
    test = getattr(importlib.import_module(f"tests.{module}"), name.split("[")[0])
    assert callable(test), row.test
    assert faults.markdown_row(row) in text, row.test
