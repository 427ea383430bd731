"""One run over several processes on localhost (gloo): results, preemption,
a lost process, a second launch, SLURM's environment."""

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxmem.workdir import files
from tests import processes


def _port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


# SLOW_TINY with 8 lanes (2 conditions x 2 corruptions x 2 seeds), no history
# (a run over processes keeps none).
ARGS = [*processes.SLOW_TINY, "--config.grid.condition=('true_labels','random_labels')",
        "--config.record_history=off"]


def launch(workdir, count: int, devices: int = 1, *extra, env=None, flags=True):
  """Starts `count` jaxmem processes of SLOW_TINY on one workdir (or each on
  its own, from a list)."""
  port, procs = _port(), []
  for i in range(count):
    args = [f"--coordinator_address=localhost:{port}", f"--num_processes={count}",
            f"--process_id={i}"] if flags else []
    full_env = dict(os.environ, JAXMEM_OFFLINE="1", JAXMEM_CPU_DEVICES=str(devices),
                    **(env(i) if env else {}))
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "jaxmem", *ARGS, *args, *extra,
         f"--workdir={workdir[i] if isinstance(workdir, list) else workdir}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=full_env))
  return procs


def finish(procs, timeout: float = 240, logs: list | None = None
           ) -> list[tuple[int, list[str]]]:
  """Waits for every process (killing all by pid past `timeout`); returns each
  one's (exit status, stderr lines that are not log lines). Each one's whole
  stderr is appended to `logs` if given."""
  deadline, out = time.time() + timeout, []
  try:
    for proc in procs:
      _, err = proc.communicate(timeout=max(1, deadline - time.time()))
      out.append((proc.returncode, processes.messages(err)))
      if logs is not None:
        logs.append(err)
  except subprocess.TimeoutExpired:
    for proc in procs:
      if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    raise AssertionError(f"the processes ran over {timeout} s and were killed")
  return out


def same_as(reference: pathlib.Path, workdir: pathlib.Path) -> None:
  """Byte-identical results (timing aside, and the config's record of where
  the lanes ran)."""
  for name in ("config.json",):
    a = json.loads((reference / name).read_text())
    b = json.loads((workdir / name).read_text())
    a.pop("execution"), b.pop("execution")
    assert a == b
  (workdir / "config.json").write_text((reference / "config.json").read_text())
  processes.assert_same_results(reference, workdir)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """ARGS on one process, never interrupted."""
  def make(path):
    assert processes.finish(processes.start(path, args=ARGS)) == 0
    with np.load(path / "examples.npz") as f:
      assert processes.SCORE_RECORDS <= set(f)
  return processes.made_once(tmp_path_factory, "distributed_reference", make)


def test_two_processes_of_two_devices_give_the_results_of_one(reference, tmp_path):
  workdir = tmp_path / "run"
  results = finish(launch(workdir, 2, 2))
  assert [status for status, _ in results] == [0, 0], results
  config = json.loads((workdir / "config.json").read_text())
  assert config["execution"]["processes"] == 2
  assert len(config["execution"]["devices"]) == 4
  assert config["execution"]["device_processes"] == [0, 0, 1, 1]
  same_as(reference, workdir)


def test_a_second_launch_is_refused_and_sigterm_to_one_process_preempts_all(
    reference, tmp_path, monkeypatch):
  """While a 2-process run trains, a second 2-process launch on its workdir is
  refused; SIGTERM to process 1 then checkpoints both; the run resumes on two
  processes, and on one of 3 devices (8 lanes padded to 9), to the results of
  an uninterrupted run."""
  workdir = tmp_path / "run"
  procs = launch(workdir, 2, 1)
  processes.wait_for_epoch(procs[0], workdir, 1)
  for proc in procs:  # Held still (alive, holding the lock) while the second starts.
    os.kill(proc.pid, signal.SIGSTOP)
  try:
    second = finish(launch(workdir, 2, 1), timeout=120)
  finally:
    for proc in procs:
      os.kill(proc.pid, signal.SIGCONT)
  for status, lines in second:
    assert status == 2 and len(lines) == 1, second
    assert f"is in use by another jaxmem, pid {procs[0].pid}" in lines[0]
  processes.wait_for_epoch(procs[0], workdir, 3)
  os.kill(procs[1].pid, signal.SIGTERM)  # Not the one that writes the files.
  results = finish(procs)
  assert [status for status, _ in results] == [143, 143], results
  status = files.Workdir(workdir).read_status()
  assert status["status"] == "preempted" and status["epoch"] < 10
  assert str(status["epoch"]) in os.listdir(workdir / "checkpoints")
  shutil.copytree(workdir, tmp_path / "one")
  logs = []
  results = finish(launch(workdir, 2, 1), logs=logs)
  assert [status for status, _ in results] == [0, 0], results
  for log in logs:  # Both processes went on from the preemption's checkpoint.
    assert processes.resumed_from(log) == status["epoch"]
  assert processes.epochs_trained(logs[0]) == list(range(status["epoch"] + 1, 11))
  same_as(reference, workdir)
  monkeypatch.setenv("JAXMEM_CPU_DEVICES", "3")
  log = tmp_path / "one.log"
  assert processes.finish(processes.start(tmp_path / "one", args=ARGS, log=log)) == 0
  assert processes.resumed_from(log.read_text()) == status["epoch"]
  same_as(reference, tmp_path / "one")


def test_a_lost_process_fails_the_run_and_the_rerun_resumes(reference, tmp_path):
  workdir = tmp_path / "run"
  procs = launch(workdir, 2, 1, "--heartbeat_timeout_s=10")
  processes.wait_for_epoch(procs[0], workdir, 3)  # Past the checkpoint of epoch 2.
  killed = time.time()
  os.kill(procs[1].pid, signal.SIGKILL)
  (status, lines), _ = finish(procs, timeout=10 + 30 + 30)
  assert time.time() - killed < 10 + 30
  assert status != 0
  assert lines and lines[-1].startswith("jaxmem: error:") and "lost" in lines[-1], lines
  assert files.Workdir(workdir).read_status()["status"] == "failed"
  newest, log = processes.newest_checkpoint(workdir), tmp_path / "rerun.log"
  assert newest >= 2, "nothing to resume from"
  assert processes.finish(processes.start(workdir, args=ARGS, log=log)) == 0
  assert processes.resumed_from(log.read_text()) == newest
  assert processes.epochs_trained(log.read_text()) == list(range(newest + 1, 11))
  same_as(reference, workdir)


def test_slurms_environment_launches_two_processes_without_flags(reference, tmp_path):
  job = _port() - (65535 - 2**12 + 1)  # JAX's port for a job: 61440 + id % 4096.
  job = job if 0 <= job < 2**12 else 7
  env = lambda i: dict(SLURM_JOB_ID=str(job), SLURM_NTASKS="2", SLURM_PROCID=str(i),
                       SLURM_LOCALID=str(i), SLURM_STEP_NODELIST="localhost",
                       SLURM_STEP_NUM_NODES="1", SLURM_NODELIST="localhost")
  workdir = tmp_path / "run"
  results = finish(launch(workdir, 2, 1, env=env, flags=False))
  assert [status for status, _ in results] == [0, 0], results
  assert json.loads((workdir / "config.json").read_text())["execution"]["processes"] == 2
  same_as(reference, workdir)


def test_open_mpis_environment_launches_two_processes_without_flags(reference, tmp_path):
  """As mpirun sets it: the launcher's URI (its job id gives JAX's port), the
  world size and each process's rank."""
  job = _port() - (65535 - 2**12 + 1)
  job = job if 0 <= job < 2**12 else 9
  env = lambda i: dict(OMPI_MCA_orte_hnp_uri=f"{job * 2**12}.0;tcp://127.0.0.1:1",
                       OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK=str(i),
                       OMPI_COMM_WORLD_LOCAL_RANK=str(i))
  workdir = tmp_path / "run"
  results = finish(launch(workdir, 2, 1, env=env, flags=False))
  assert [status for status, _ in results] == [0, 0], results
  assert json.loads((workdir / "config.json").read_text())["execution"]["processes"] == 2
  same_as(reference, workdir)


def test_a_workdir_the_processes_do_not_share_is_one_line(tmp_path):
  """Each process sees its own folder (as on storage they do not share)."""
  folders = [tmp_path / "host0" / "run", tmp_path / "host1" / "run"]
  results = finish(launch(folders, 2, 1), timeout=150)
  for status, lines in results:
    assert status == 2 and lines, results
    assert lines[-1].startswith("jaxmem: error: --workdir ")
    assert "needs it on storage they share" in lines[-1]
  assert not (folders[1] / "metrics.jsonl").exists()
  assert not (folders[0] / "metrics.jsonl").exists()
