"""Workdirs that survive an upgrade: runs interrupted under earlier jaxmem
versions (tests/fixtures, made by those versions) resume, or say in one line
which version can finish them; they are never taken for someone else's."""

import hashlib
import json
import pathlib
import shutil

import numpy as np

from jaxmem import version
from jaxmem.workdir import files
from jaxmem.workdir import ownership
from tests import processes
from tests.test_workdir import snapshot

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
ARGS = (FIXTURES / "args.txt").read_text().split()


def _copy(name: str, tmp_path: pathlib.Path) -> pathlib.Path:
  workdir = tmp_path / name
  shutil.copytree(FIXTURES / name, workdir)
  return workdir


def test_a_run_preempted_under_jaxmem_0_2_0_resumes_to_what_0_2_0_would_give(tmp_path):
  workdir = _copy("workdir_0.2.0_preempted", tmp_path)
  run_id = json.loads((workdir / ownership.MARKER).read_text())["run_id"]
  log = tmp_path / "rerun.log"
  assert processes.finish(processes.start(
      workdir, "--config.record_history=off", args=ARGS, log=log)) == 0
  text = log.read_text()
  assert processes.resumed_from(text) == 3 and processes.epochs_trained(text) == [4, 5, 6]
  expected = FIXTURES / "workdir_0.2.0_expected"
  wd = files.Workdir(workdir)
  assert [processes.strip(r) for r in wd.read_metrics()] == \
      json.loads((expected / "metrics.json").read_text())
  summary = processes.strip(wd.read_json("summary.json"))
  # Added since 0.2.0: each lane's accuracy on the examples it held out (none here).
  assert all(lane.pop("holdout_acc") is None for lane in summary["lanes"])
  assert all(point.pop("holdout_acc")["n"] == 0 for point in summary["points"])
  assert summary == json.loads((expected / "summary.json").read_text())
  arrays = {k: [str(v.dtype), list(v.shape),
                hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()]
            for k, v in wd.read_examples().items()}
  assert arrays == json.loads((expected / "examples.json").read_text())
  marker = json.loads((workdir / ownership.MARKER).read_text())
  assert marker["run_id"] == run_id and marker["upgraded_from"] == "0.2.0"
  assert marker["jaxmem_version"] == version.__version__ and marker["workdir_format"] == 3
  described = wd.read_json("config.json")["versions"]
  assert described["jaxmem"] == version.__version__ and described["workdir_format"] == 3


def test_a_run_of_jaxmem_0_1_0_is_recognised_named_and_only_replaced_when_finished(
    tmp_path):
  workdir = _copy("workdir_0.1.0_killed", tmp_path)
  before = snapshot(workdir)
  for extra in ([], ["--overwrite"]):  # Unfinished: not even --overwrite loses it.
    status, lines = processes.run(workdir, *extra, args=ARGS)
    assert status == 2 and len(lines) == 1, lines
    assert lines[0] == (
        f"jaxmem: error: --workdir {workdir} holds an unfinished run written by "
        f"jaxmem 0.1.0 (workdir format 1), which jaxmem {version.__version__} cannot "
        "resume; finish it with that version (git checkout 0ace575 && pip install . "
        "(jaxmem 0.1.0)), or choose another --workdir")
    assert "did not write" not in lines[0]
    assert snapshot(workdir) == before
  status_file = workdir / "status.json"  # As if 0.1.0 had finished it.
  status_file.write_text(json.dumps(dict(json.loads(status_file.read_text()),
                                         status="done")))
  status, lines = processes.run(workdir, args=ARGS)
  assert status == 2 and "already holds a finished run; pass --overwrite" in lines[0]
  status, lines = processes.run(workdir, "--overwrite", args=ARGS)
  assert status == 0, lines
  assert files.Workdir(workdir).status() == "done"
  assert json.loads((workdir / ownership.MARKER).read_text())["workdir_format"] == 3
