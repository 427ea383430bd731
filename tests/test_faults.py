"""Faults around a live run, on real processes: signals, a second writer, a full
disk, a read-only or immutable folder. Each test here is a row of the fault
table in docs/bad_inputs.md (tests/faults.py)."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import threading

import pytest

from jaxmem.workdir import files
from tests import processes


def _one_line(lines: list[str], start: str) -> str:
  assert len(lines) == 1, lines[-30:]
  assert lines[0].startswith(start), lines
  return lines[0]


def _no_traceback(stderr: str) -> None:
  assert "Traceback" not in stderr, stderr[-3000:]


@pytest.mark.parametrize("signum,times", [(signal.SIGTERM, 1), (signal.SIGINT, 1),
                                          (signal.SIGTERM, 2)],
                         ids=["sigterm", "sigint", "sigterm_twice"])
def test_signals_preempt_with_a_checkpoint_and_resume_identically(
    uninterrupted, tmp_path, signum, times):
  workdir = tmp_path / "run"
  proc = processes.start(workdir, stderr=subprocess.PIPE)
  lines, received = [], threading.Event()

  def read():
    for line in proc.stderr:
      lines.append(line)
      if "received: stopping" in line:
        received.set()
  reader = threading.Thread(target=read, daemon=True)
  reader.start()
  processes.wait_for_epoch(proc, workdir, 3)
  os.kill(proc.pid, signum)
  if times == 2:  # Signals of one kind coalesce until handled: wait for the first.
    assert received.wait(timeout=60)
    os.kill(proc.pid, signum)
  try:
    proc.wait(timeout=120)
  finally:
    if proc.poll() is None:
      os.kill(proc.pid, signal.SIGKILL)
  reader.join(timeout=10)
  err = "".join(lines)
  assert proc.returncode == 128 + signum
  _no_traceback(err)
  status = files.Workdir(workdir).read_status()
  assert status["status"] == "preempted"
  name = signal.Signals(signum).name
  if times == 1:
    line = _one_line(processes.messages(err), f"jaxmem: stopped by {name} at epoch")
    assert f"epoch {status['epoch']} of 10, checkpoint saved" in line
    assert status["epoch"] < 10 and str(status["epoch"]) in os.listdir(
        workdir / "checkpoints")
  else:  # The second signal stops at once, from the newest checkpoint on disk.
    _one_line(processes.messages(err), f"jaxmem: stopped at once by a second {name}")
    assert status["forced"] and status["signal"] == name
    assert status["epoch"] == processes.newest_checkpoint(workdir)
  log = tmp_path / "rerun.log"
  assert processes.finish(processes.start(workdir, log=log)) == 0
  # It resumed (a restart from epoch 0 gives the same files): from the
  # checkpoint the stop recorded, training only the epochs after it.
  text = log.read_text()
  assert processes.resumed_from(text) == status["epoch"] > 0
  assert processes.epochs_trained(text) == list(range(status["epoch"] + 1, 11))
  processes.assert_same_results(uninterrupted, workdir)


def test_a_second_writer_is_refused_and_the_first_run_is_untouched(uninterrupted, tmp_path):
  workdir = tmp_path / "run"
  first = processes.start(workdir)
  processes.wait_for_epoch(first, workdir, 1)
  status, lines = processes.run(workdir)
  assert first.poll() is None, "the first run ended before the second one tried"
  assert status == 2
  _one_line(lines, f"jaxmem: error: --workdir {workdir} is in use by another "
                   f"jaxmem, pid {first.pid} on host")
  assert processes.finish(first) == 0
  keys = [(r["epoch"], r["lane"]) for r in files.Workdir(workdir).read_metrics()]
  assert len(keys) == len(set(keys)) == len(files.Workdir(uninterrupted).read_metrics())
  processes.assert_same_results(uninterrupted, workdir)


def _tmpfs(path: pathlib.Path, size: str) -> pathlib.Path:
  """Mounts a tmpfs of `size` at `path` (root can here); skips where refused."""
  path.mkdir()
  out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True, check=False)
  if out.returncode:
    pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
  return path


@pytest.fixture
def small_disk(tmp_path):
  """A 64 MB filesystem (SLOW_TINY's workdir takes about 25 MB), unmounted
  afterwards."""
  yield _tmpfs(tmp_path / "disk", "64m")
  subprocess.run(["umount", "-l", str(tmp_path / "disk")], check=False)


@pytest.mark.parametrize("every", [2, 0], ids=["checkpoints", "no_checkpoints"])
def test_a_full_disk_stops_with_one_line_and_resumes_identically(
    uninterrupted, small_disk, every):
  workdir = small_disk / "run"
  extra = [f"--config.checkpoint_every_epochs={every}"]
  proc = processes.start(workdir, *extra, stderr=subprocess.PIPE)
  processes.wait_for_epoch(proc, workdir, 3)
  filler = small_disk / "filler"
  with open(filler, "wb") as f:  # Take every free byte.
    try:
      while True:
        f.write(b"\0" * 2**20)
    except OSError:
      pass
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 2
  _no_traceback(err)
  _one_line(processes.messages(err), "jaxmem: error: ")
  assert "No space left on device" in err
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    json.loads(line)  # No half line.
  assert files.Workdir(workdir).read_status()["status"] == "failed"
  filler.unlink()
  newest, log = processes.newest_checkpoint(workdir), small_disk / "rerun.log"
  assert processes.finish(processes.start(workdir, *extra, log=log)) == 0
  text = log.read_text()
  if every:  # From the newest checkpoint, not from the start.
    assert processes.resumed_from(text) == newest > 0
    assert processes.epochs_trained(text) == list(range(newest + 1, 11))
    processes.assert_same_results(uninterrupted, workdir)
  else:
    a, b = files.Workdir(uninterrupted), files.Workdir(workdir)
    assert [processes.strip(r) for r in a.read_metrics()] == \
        [processes.strip(r) for r in b.read_metrics()]
    assert processes.strip(a.read_json("summary.json")) == \
        processes.strip(b.read_json("summary.json"))


def test_a_disk_too_small_for_the_first_checkpoint_is_refused_before_training(tmp_path):
  mount = _tmpfs(tmp_path / "tiny_disk", "1m")
  try:
    status, lines = processes.run(mount / "run")
    assert status == 2
    _one_line(lines, f"jaxmem: error: --workdir {mount / 'run'}: the checkpoint of "
                     "epoch 2 needs about")
    assert not (mount / "run" / "metrics.jsonl").exists()
  finally:
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def finished_tiny(tmp_path_factory):
  path = tmp_path_factory.mktemp("tiny") / "run"
  status, lines = processes.run(path, args=processes.TINY)
  assert status == 0, lines
  return path


def test_a_read_only_workdir_gives_one_line_and_out_writes_elsewhere(
    finished_tiny, small_disk, tmp_path):
  workdir = small_disk / "run"
  shutil.copytree(finished_tiny, workdir)
  subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
  status, lines = processes.run(workdir, "--overwrite", args=processes.TINY)
  assert status == 2
  _one_line(lines, f"jaxmem: error: --workdir {workdir} is not writable: "
                   "Read-only file system")
  status, lines = processes.run(workdir, "--knn_k=5", command="analyze", args=[])
  assert status == 2
  line = _one_line(lines, "jaxmem: error: cannot write")
  assert "Read-only file system" in line and "--out=DIR" in line
  status, lines = processes.run(workdir, "--knn_k=5", f"--out={tmp_path / 'report'}",
                                command="report", args=[])
  assert status == 0, lines
  assert (tmp_path / "report" / "report.md").exists()


def test_an_immutable_workdir_gives_one_line(finished_tiny, tmp_path):
  workdir = tmp_path / "run"
  shutil.copytree(finished_tiny, workdir)
  out = subprocess.run(["chattr", "+i", str(workdir)], capture_output=True, text=True,
                       check=False)
  if out.returncode:
    pytest.skip(f"chattr +i is not allowed here: {out.stderr.strip()}")
  try:
    status, lines = processes.run(workdir, "--overwrite", args=processes.TINY)
    assert status == 2
    _one_line(lines, f"jaxmem: error: --workdir {workdir} is not writable: "
                     "Operation not permitted")
  finally:
    subprocess.run(["chattr", "-i", str(workdir)], check=False)
