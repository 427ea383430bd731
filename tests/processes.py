"""jaxmem processes for tests: start them, wait for an epoch, end them by pid.

Every process is bounded in time: `finish` waits at most `timeout` seconds,
then kills the process (by pid) and fails the test.
"""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from jaxmem.workdir import checkpoint
from jaxmem.workdir import files

# Wall-clock fields differ between any two runs, interrupted or not.
TIMING = ("elapsed_s", "compile_s", "train_s", "checkpoint_s", "lane_examples_per_s")

# Ten epochs of about 0.5 s each on 2 cores: long enough to interrupt. Every
# per-example score is on (with AUM's threshold samples, and EL2N and GraNd at
# the initialization and later), so that every resume test covers them.
SLOW_TINY = ["--config.dataset=synthetic", "--config.synthetic.num_train=4096",
             "--config.synthetic.shape=(8,8,1)", "--config.model=mlp",
             "--config.mlp_widths=(256,)", "--config.num_seeds=2",
             "--config.grid.label_corruption=(0.0,1.0)", "--config.num_epochs=10",
             "--config.batch_size=16", "--config.checkpoint_every_epochs=2",
             "--config.learning_rate=0.01",
             "--config.scores.names=('aum','data_map','loss','entropy','el2n','grand')",
             "--config.scores.el2n_epochs=(0,10)", "--config.scores.grand_epochs=(0,10)",
             "--config.scores.threshold_samples=True"]


# What SLOW_TINY's scores put in examples.npz (so resumes compare them).
SCORE_RECORDS = {"aum", "margin", "aum_flagged", "threshold_sample", "confidence",
                 "variability", "correctness", "mean_loss", "mean_entropy", "el2n_e0",
                 "el2n_e10", "grand_e0", "grand_e10"}


# One epoch of two small lanes: a finished run to read, in a few seconds.
TINY = ["--config.dataset=synthetic", "--config.num_epochs=1", "--config.num_seeds=1",
        "--config.model=mlp", "--config.grid.condition=('true_labels','random_labels')"]


def start(workdir, *extra, command="jaxmem", stderr=subprocess.DEVNULL,
          args=SLOW_TINY, log=None):
  """Starts `python -m <command>` on `workdir`; returns the Popen.

  With `log` (a path), its stderr goes to that file, to be read with
  `resumed_from` and `epochs_trained`.
  """
  env = dict(os.environ, JAXMEM_OFFLINE="1")
  if log is not None:
    stderr = open(log, "w")  # pylint: disable=consider-using-with
  command = ["jaxmem"] if command == "jaxmem" else ["jaxmem", command]
  return subprocess.Popen([sys.executable, "-m", *command, *args, *extra,
                           f"--workdir={workdir}"], stdout=subprocess.DEVNULL,
                          stderr=stderr, text=True, env=env)


def finish(proc, timeout: float = 300) -> int:
  """Waits for `proc`; kills it by pid and fails if it takes over `timeout` s."""
  try:
    return proc.wait(timeout=timeout)
  except subprocess.TimeoutExpired:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    raise AssertionError(f"pid {proc.pid} ran over {timeout} s and was killed")


def run(workdir, *extra, timeout: float = 300, **kwargs):
  """Runs jaxmem to the end; returns (exit status, stderr lines not from logging)."""
  proc = start(workdir, *extra, stderr=subprocess.PIPE, **kwargs)
  try:
    _, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    raise AssertionError(f"pid {proc.pid} ran over {timeout} s and was killed")
  return proc.returncode, messages(err)


def messages(stderr: str) -> list[str]:
  """stderr's lines that are not absl log lines (I/W/E1201 ...) or blank."""
  return [l for l in stderr.splitlines()
          if l.strip() and not (len(l) > 5 and l[0] in "IWEF" and l[1:5].isdigit())]


def resumed_from(log: str) -> int | None:
  """The epoch whose checkpoint a run's log says it resumed from; None if it
  started afresh (a "resume" that restarted would say nothing)."""
  found = re.findall(r"resuming .* from the checkpoint of epoch (\d+)", log)
  assert len(found) <= 1, found
  return int(found[0]) if found else None


def epochs_trained(log: str) -> list[int]:
  """The epochs a run's log says it trained, from its progress lines."""
  return [int(e) for e in re.findall(r"\bepoch (\d+)/\d+  \d+ lanes", log)]


def newest_checkpoint(workdir) -> int:
  """The newest complete checkpoint on disk (0: none)."""
  folder = pathlib.Path(workdir) / "checkpoints"
  done = [int(p.name) for p in folder.iterdir() if p.name.isdigit()] if folder.is_dir() else []
  return max(done, default=0)


def epoch(workdir) -> int:
  """The epoch status.json reports (-1 while there is none)."""
  try:
    return json.loads((pathlib.Path(workdir) / "status.json").read_text()).get("epoch", 0)
  except (FileNotFoundError, json.JSONDecodeError):
    return -1


def wait_for_epoch(proc, workdir, target: int, timeout: float = 240) -> None:
  deadline = time.time() + timeout
  while epoch(workdir) < target and proc.poll() is None:
    if time.time() > deadline:
      os.kill(proc.pid, signal.SIGKILL)
      proc.wait()
      raise AssertionError(f"epoch {target} not reached in {timeout} s")
    time.sleep(0.01)


def strip(obj):
  """Drops wall-clock fields, recursively."""
  if isinstance(obj, dict):
    return {k: strip(v) for k, v in obj.items() if k not in TIMING}
  if isinstance(obj, list):
    return [strip(v) for v in obj]
  return obj


def final_params(workdir: pathlib.Path, epoch_=None):
  """Reads the parameters from a checkpoint of the workdir (the newest by default)."""
  ckpts = checkpoint.Checkpoints(pathlib.Path(workdir) / "checkpoints", keep=10)
  arrays, meta = ckpts.read(ckpts.epochs()[-1] if epoch_ is None else epoch_)
  ckpts.close()
  # The run's lanes, without the padding of its device count.
  return jax.tree.map(lambda x: x[:meta["num_lanes"]], arrays["state"]["train"]["params"])


def assert_same_results(a: pathlib.Path, b: pathlib.Path):
  """Every output file and the final parameters are identical (timing and the
  devices the lanes ran on aside)."""
  ra, rb = files.Workdir(a), files.Workdir(b)
  lines_a = (a / "metrics.jsonl").read_text().splitlines()
  lines_b = (b / "metrics.jsonl").read_text().splitlines()
  assert len(lines_a) == len(lines_b)
  assert [strip(json.loads(l)) for l in lines_a] == [strip(json.loads(l)) for l in lines_b]
  assert strip(ra.read_json("summary.json")) == strip(rb.read_json("summary.json"))
  # config.json's `execution` records where the lanes ran, which may differ.
  described = lambda wd: {k: v for k, v in strip(wd.read_json("config.json")).items()
                          if k != "execution"}
  assert described(ra) == described(rb)
  ea, eb = ra.read_examples(), rb.read_examples()
  assert ea.keys() == eb.keys()
  for key in ea:
    np.testing.assert_array_equal(ea[key], eb[key], err_msg=key)
  assert ra.status() == rb.status() == "done"
  assert (a / "history").exists() == (b / "history").exists()
  if (a / "history").exists():
    from jaxmem.workdir import history  # pylint: disable=g-import-not-at-top
    ha, hb = history.open_history(a / "history"), history.open_history(b / "history")
    for key in ha:
      np.testing.assert_array_equal(ha[key].read().result(), hb[key].read().result(),
                                    err_msg=f"history {key}")
  pa, pb = final_params(a), final_params(b)
  for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)):
    np.testing.assert_array_equal(x, y)


def made_once(tmp_path_factory, name: str, make) -> pathlib.Path:
  """The folder `make(path)` fills, made once for the whole test run: under
  pytest-xdist the workers share it (the first one makes it, under a lock,
  the others wait and read it), so a reference run costs one training, not
  one per worker. Tests only read it."""
  import fcntl  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent  # This run's folder, above the workers' own.
  path = root / "made_once" / name
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path.parent / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (path.parent / f"{name}.done").exists():
      make(path)
      (path.parent / f"{name}.done").touch()
  return path
