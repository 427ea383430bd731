"""Never lose a user's data: ownership, one writer, torn writes, disk and memory budgets."""

import errno
import hashlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxmem
from jaxmem import errors
from jaxmem import report
from jaxmem import run as run_lib
from jaxmem.analysis import difficulty
from jaxmem.runtime import budget
from jaxmem.workdir import files
from jaxmem.workdir import ownership
from tests import processes
from tests.test_train import tiny


def snapshot(path: pathlib.Path) -> dict[str, str]:
  """Every file under `path` with a hash of its bytes."""
  return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished tiny run, to copy."""
  path = tmp_path_factory.mktemp("finished") / "run"
  jaxmem.train(tiny(), str(path))
  return path


@pytest.fixture
def run_copy(finished, tmp_path):
  shutil.copytree(finished, tmp_path / "run")
  return tmp_path / "run"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_of_foreign_files_survives_untouched(tmp_path, overwrite):
  folder = tmp_path / "theirs"
  (folder / "checkpoints").mkdir(parents=True)
  (folder / "config.json").write_text('{"lr": 0.1}')
  (folder / "summary.json").write_text('{"acc": 0.9}')
  (folder / "checkpoints" / "model_v1.pt").write_bytes(b"\x00weights")
  before = snapshot(folder)
  with pytest.raises(errors.UserError, match="jaxmem did not write .*checkpoints, "
                     "config.json, summary.json"):
    jaxmem.train(tiny(), str(folder), overwrite=overwrite)
  assert snapshot(folder) == before
  assert sorted(p.name for p in folder.iterdir()) == ["checkpoints", "config.json",
                                                      "summary.json"]


def test_overwrite_removes_only_jaxmems_own_files(run_copy):
  (run_copy / "notes.md").write_text("my notes")
  files.write_owned(run_copy / "report", "report.md", b"old report")
  (run_copy / "report" / "mine.txt").write_text("kept")
  old_id = json.loads((run_copy / ownership.MARKER).read_text())["run_id"]
  with pytest.raises(errors.UserError, match="already holds a finished run"):
    jaxmem.train(tiny(), str(run_copy))
  jaxmem.train(tiny(), str(run_copy), overwrite=True)
  assert (run_copy / "notes.md").read_text() == "my notes"
  assert (run_copy / "report" / "mine.txt").read_text() == "kept"
  assert not (run_copy / "report" / "report.md").exists()  # Stale: removed.
  assert json.loads((run_copy / ownership.MARKER).read_text())["run_id"] != old_id
  assert files.Workdir(run_copy).status() == "done"


@pytest.mark.parametrize("damaged", [ownership.MARKER, "status.json"])
def test_a_damaged_marker_or_status_never_counts_as_no_run(run_copy, damaged):
  (run_copy / damaged).write_text('{"status": "do')  # Torn by hand.
  before = snapshot(run_copy)
  with pytest.raises(errors.UserError, match=f"{damaged}.*(damaged|cannot be read)"):
    jaxmem.train(tiny(), str(run_copy))
  assert snapshot(run_copy) == before
  if damaged == "status.json":  # The marker proves the run is jaxmem's.
    jaxmem.train(tiny(), str(run_copy), overwrite=True)
    assert files.Workdir(run_copy).status() == "done"
  else:
    with pytest.raises(errors.UserError, match="cannot be read"):
      jaxmem.train(tiny(), str(run_copy), overwrite=True)
    assert snapshot(run_copy) == before


def test_a_live_writer_keeps_others_out_and_readers_say_it_runs(run_copy):
  before = snapshot(run_copy)
  with ownership.Lock(run_copy):
    for attempt in (lambda: jaxmem.train(tiny(), str(run_copy), overwrite=True),
                    lambda: difficulty.analyze([str(run_copy)]),
                    lambda: report.write([str(run_copy)])):
      with pytest.raises(errors.UserError,
                         match=f"(in use by another jaxmem|still running).*pid "
                               f"{os.getpid()} on host"):
        attempt()
  after = snapshot(run_copy)
  assert {k: v for k, v in after.items() if k != ownership.LOCK} == \
      {k: v for k, v in before.items() if k != ownership.LOCK}


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, caplog):
  gone = subprocess.Popen([sys.executable, "-c", "pass"])
  gone.wait()
  workdir = tmp_path / "run"
  workdir.mkdir()
  (workdir / ownership.LOCK).write_text(json.dumps(
      dict(host=socket.gethostname(), pid=gone.pid, started="then")))
  jaxmem.train(tiny(), str(workdir))
  assert f"taking over the lock left by pid {gone.pid}" in caplog.text
  assert files.Workdir(workdir).status() == "done"
  assert (workdir / ownership.LOCK).read_text() == ""  # Released cleanly.


def test_a_failed_append_is_cut_back_to_whole_lines(tmp_path, monkeypatch):
  wd = files.Workdir(tmp_path)
  wd.append_metrics([{"epoch": 1, "lane": 0}])
  before = (tmp_path / "metrics.jsonl").read_bytes()
  real_write = os.write

  def half_then_full(fd, data):
    if len(data) > 8:  # Half the line goes in, then the disk is full.
      real_write(fd, bytes(data[:len(data) // 2]))
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(os, "write", half_then_full)
  with pytest.raises(OSError, match="No space left") as caught:
    wd.append_metrics([{"epoch": 2, "lane": 0, "train_acc": 0.5}])
  assert caught.value.filename == str(tmp_path / "metrics.jsonl")
  monkeypatch.undo()
  assert (tmp_path / "metrics.jsonl").read_bytes() == before


def test_status_is_written_in_place_when_nothing_new_fits(tmp_path, monkeypatch):
  wd = files.Workdir(tmp_path)
  wd.set_status("running", epoch=3, num_epochs=10, diverged_lanes=[])

  def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(files.tempfile, "mkstemp", full)
  assert wd.set_status_anyhow("failed", epoch=3, error="No space left on device")
  monkeypatch.undo()
  assert wd.read_status()["status"] == "failed"


def test_resume_cuts_metrics_back_to_its_checkpoint(tmp_path, info_log):
  c = tiny(num_epochs=4, checkpoint_every_epochs=2)
  reference = tmp_path / "reference"
  jaxmem.train(c, str(reference))
  workdir = tmp_path / "run"
  jaxmem.train(tiny(num_epochs=4, checkpoint_every_epochs=2), str(workdir))
  # As if killed during epoch 4's append, after the checkpoint of epoch 2:
  shutil.rmtree(workdir / "checkpoints" / "4")
  status = json.loads((workdir / "status.json").read_text())
  (workdir / "status.json").write_text(json.dumps(dict(status, status="running")))
  with open(workdir / "metrics.jsonl", "ab") as f:
    f.write(b'{"epoch": 5, "la')
  info_log.clear()
  jaxmem.train(c, str(workdir))
  # It went on from epoch 2's checkpoint (a restart would give the same rows).
  assert processes.resumed_from(info_log.text) == 2
  assert processes.epochs_trained(info_log.text) == [3, 4]
  assert (workdir / "metrics.jsonl").read_text().count("\n") == \
      (reference / "metrics.jsonl").read_text().count("\n")
  for a, b in zip(files.Workdir(reference).read_metrics(),
                  files.Workdir(workdir).read_metrics()):
    assert {k: v for k, v in a.items() if k != "elapsed_s"} == \
        {k: v for k, v in b.items() if k != "elapsed_s"}


def test_a_checkpoint_that_cannot_fit_is_refused_before_training(tmp_path, monkeypatch):
  monkeypatch.setattr(budget, "free_disk", lambda path: 1000)
  workdir = tmp_path / "run"
  with pytest.raises(errors.UserError,
                     match=r"the checkpoint of epoch 2 needs about .* but its "
                           r"filesystem has 1000 B free"):
    jaxmem.train(tiny(num_epochs=4, checkpoint_every_epochs=2), str(workdir))
  assert not (workdir / "metrics.jsonl").exists()  # No epoch was trained.
  assert files.Workdir(workdir).read_status()["status"] == "failed"
  monkeypatch.undo()
  jaxmem.train(tiny(num_epochs=4, checkpoint_every_epochs=2), str(workdir))
  assert files.Workdir(workdir).status() == "done"


def test_a_run_too_large_for_memory_is_refused_before_allocating(tmp_path, monkeypatch):
  monkeypatch.setattr(budget, "host_memory_available", lambda: 2**22)
  with pytest.raises(errors.UserError, match=r"needs about .* of host memory \(4000 "
                     r"lanes x .* of state.* but 4.0 MB is available; use fewer lanes"):
    jaxmem.train(tiny(num_seeds=4000), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_the_memory_refusal_counts_state_records_and_data_by_hand(tmp_path, monkeypatch):
  """The figures of the refusal, counted here from the documented shapes and
  dtypes: 8x8x1 synthetic images, 1024 train / 256 test, MLP 64-8-10, SGD
  with momentum, one epoch (so every counter fits a byte)."""
  monkeypatch.setattr(budget, "host_memory_available", lambda: 2**30)
  c = tiny(num_seeds=10**6, num_epochs=1, mlp_widths=(8,),
           **{"synthetic.num_train": 1024, "synthetic.num_test": 256,
              "synthetic.shape": (8, 8, 1)})
  params = (64 * 8 + 8) + (8 * 10 + 10)
  # Parameters and momentum (float32), the schedule's count, step and
  # divergence (int32); the lane's hyperparameters, labels and subset [N]
  # (int32), input code, and 7 keys of 2 uint32.
  state = 2 * 4 * params + 3 * 4 + (3 * 4 + 2 * 4 * 1024 + 4 + 7 * 8)
  # Forgetting: presentations, events, first learned, last verdict [N]; learning:
  # first correct, settled, prediction, count, epoch-1 verdict [N] and the
  # evaluation count (int32); test: prediction and count [M]: a byte each.
  records = 10**6 * (4 * 1024 + 5 * 1024 + 4 + 2 * 256)
  data = (1024 + 256) * 64 * 4
  with pytest.raises(errors.UserError) as caught:
    jaxmem.train(c, str(tmp_path / "run"))
  assert (f"(1000000 lanes x {state / 2**10:.1f} kB of state, {records / 2**30:.1f} GB "
          f"of per-example accumulators, {data / 2**10:.1f} kB of data)") in str(caught.value)


def test_the_memory_estimate_is_what_the_run_allocates(monkeypatch):
  """The estimate (from shapes, before allocating) against the arrays the
  built run holds on its devices."""
  seen = []
  monkeypatch.setattr(budget, "check_memory", lambda memory, *a: seen.append(memory))
  c = tiny(num_seeds=3, subset_ratio=0.5)
  c.grid.label_corruption = (0.0, 1.0)
  the_run = run_lib.Run.build(c)
  memory = seen[0]
  lanes = the_run.num_lanes
  one_lane = lambda tree: sum(np.asarray(x)[:lanes].nbytes for x in jax.tree.leaves(tree))
  assert memory.num_lanes == lanes == 6
  assert memory.accumulators == one_lane(the_run.state.accumulators) > 0
  assert memory.state_per_lane * lanes == one_lane(the_run.state.train) + one_lane(
      the_run.constants)
  assert memory.data == the_run.dataset.train.images.nbytes + \
      the_run.dataset.test.images.nbytes


def test_the_cgroup_limit_bounds_the_memory_a_run_plans_for(tmp_path, monkeypatch):
  """A SLURM job's or container's cgroup v2 limit, less what it uses."""
  monkeypatch.delenv("JAXMEM_MEMORY", raising=False)
  monkeypatch.setattr(budget, "CGROUP", str(tmp_path))
  (tmp_path / "memory.max").write_text("max\n")
  (tmp_path / "memory.current").write_text("123\n")
  unlimited = budget.host_memory_available()
  assert unlimited > 2**27  # /proc/meminfo's MemAvailable, this machine's.
  (tmp_path / "memory.max").write_text(f"{2**30}\n")
  (tmp_path / "memory.current").write_text(f"{2**30 - 2**26}\n")
  assert budget.host_memory_available() == 2**26
  with pytest.raises(errors.UserError, match=r"of host memory .* but 64.0 MB is available"):
    jaxmem.train(tiny(num_seeds=4000), str(tmp_path / "run"))


@pytest.mark.parametrize("damage,file", [
    ("truncate", "metrics.jsonl"), ("truncate", "summary.json"),
    ("truncate", "examples.npz"), ("garbage", "config.json")])
def test_readers_name_a_damaged_file_in_one_line(run_copy, damage, file):
  path = run_copy / file
  data = path.read_bytes()
  path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage")
  if file == "examples.npz":  # The report keeps its run tables, and says why not more.
    text = report.write([str(run_copy)], k=5).read_text()
    assert f"Not available: {path} is damaged" in text
  else:
    with pytest.raises(errors.UserError, match=f"{path}.*damaged"):
      report.write([str(run_copy)], k=5)
  if file in ("examples.npz", "config.json"):
    with pytest.raises(errors.UserError, match=f"{path}.*damaged"):
      difficulty.analyze([str(run_copy)])


def test_a_damaged_analysis_cache_is_computed_again(run_copy, caplog):
  difficulty.analyze([str(run_copy)], k=5)
  cache = run_copy / "analysis" / "depth.npz"
  good = np.load(cache)["values"]
  cache.write_bytes(cache.read_bytes()[:100])
  difficulty.analyze([str(run_copy)], k=5)
  assert "depth.npz is damaged" in caplog.text
  np.testing.assert_array_equal(np.load(cache)["values"], good)


def test_report_warns_of_missing_and_repeated_epochs(run_copy, caplog):
  lines = (run_copy / "metrics.jsonl").read_text().splitlines(keepends=True)
  (run_copy / "metrics.jsonl").write_text("".join(lines + lines[:3]))
  report.write([str(run_copy)], k=5)
  assert "holds 3 (epoch, lane) rows more than once" in caplog.text
  (run_copy / "metrics.jsonl").write_text("".join(lines[: len(lines) // 2]))
  report.write([str(run_copy)], k=5)
  assert f"lacks {len(lines) - len(lines) // 2} of its {len(lines)}" in caplog.text


def test_analysis_and_report_with_out_write_nothing_in_the_workdir(run_copy, tmp_path):
  before = snapshot(run_copy)
  difficulty.analyze([str(run_copy)], out=str(tmp_path / "a"), k=5)
  report.write([str(run_copy)], out=str(tmp_path / "r"), k=5)
  assert snapshot(run_copy) == before
  assert (tmp_path / "a" / "difficulty.csv").exists()
  assert (tmp_path / "r" / "report.md").exists()
