"""Sweeps that survive: SIGKILL and resume, damaged checkpoints, diverging lanes."""

import json
import random
import shutil
import signal
import time

import flax.linen as nn
import jax
import numpy as np
import pytest

import jaxmem
from jaxmem import errors
from jaxmem import lanes as lanes_lib
from jaxmem import models
from jaxmem.workdir import checkpoint
from jaxmem.workdir import files
from tests import processes
from tests.test_train import tiny

SLOW_TINY = processes.SLOW_TINY
_start, _epoch, assert_same_results = processes.start, processes.epoch, processes.assert_same_results
final_params = processes.final_params


@pytest.mark.parametrize("history", ["on", "off"])
def test_sigkill_at_random_moments_then_resume_is_identical(
    uninterrupted, uninterrupted_no_history, tmp_path, history):
  """Killed at random moments in different epochs (three times with the
  history, once without), resumed each time: mid-epoch, mid-save, mid-append."""
  rng = random.Random(0)
  workdir = tmp_path / "run"
  # SLOW_TINY's history is small, so "auto" keeps it (as in `uninterrupted`).
  extra = [] if history == "on" else ["--config.record_history=off"]
  kills, logs = [], []
  for target in (1, 4, 7) if history == "on" else (4,):
    logs.append((processes.newest_checkpoint(workdir), tmp_path / f"{target}.log"))
    proc = _start(workdir, *extra, log=logs[-1][1])
    deadline = time.time() + 240
    while _epoch(workdir) < target and proc.poll() is None and time.time() < deadline:
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))  # Anywhere: mid-epoch, mid-save.
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills.append(_epoch(workdir))
    assert files.Workdir(workdir).status() == "running"
    for line in (workdir / "metrics.jsonl").read_text().splitlines():
      json.loads(line)  # Never a torn line.
  assert kills == sorted(kills) and kills[-1] < 10, kills
  logs.append((processes.newest_checkpoint(workdir), tmp_path / "last.log"))
  assert processes.finish(_start(workdir, *extra, log=logs[-1][1])) == 0
  # Each start went on from the newest checkpoint on disk (a restart from
  # epoch 0 would give the same files): the log says so, and its first epoch
  # trained is the one after it.
  for newest, log in logs:
    text = log.read_text()
    assert processes.resumed_from(text) == (newest or None), (newest, log)
    trained = processes.epochs_trained(text)
    assert not trained or trained[0] == newest + 1, (newest, trained)
  assert processes.epochs_trained(logs[-1][1].read_text())[-1] == 10
  assert (workdir / "history").exists() == (history == "on")
  assert_same_results(uninterrupted if history == "on" else uninterrupted_no_history,
                      workdir)


def _four_epochs(tmp_path, name):
  c = tiny(num_epochs=4, checkpoint_every_epochs=1, checkpoint_keep=3)
  jaxmem.train(c, str(tmp_path / name))
  return c, tmp_path / name


def _pretend_crashed(workdir):
  status = json.loads((workdir / "status.json").read_text())
  (workdir / "status.json").write_text(json.dumps(dict(status, status="running")))


def _data_files(workdir, epoch):
  return sorted(p for p in (workdir / "checkpoints" / str(epoch) / "arrays").rglob("*")
                if p.is_file() and "/d/" in str(p))


@pytest.mark.parametrize("damage", ["truncate", "flip_bytes", "delete_files",
                                    "alter_checksum"])
def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, info_log, damage):
  caplog = info_log
  c, reference = _four_epochs(tmp_path, "reference")
  _, workdir = _four_epochs(tmp_path, "damaged")
  _pretend_crashed(workdir)
  files = _data_files(workdir, 4)
  assert files
  if damage == "flip_bytes":
    # One bit in the middle of the largest chunk file: Orbax (its b-tree has
    # CRCs, its chunks not) reads this back silently; the checksum catches it.
    largest = max(files, key=lambda f: f.stat().st_size)
    data = bytearray(largest.read_bytes())
    data[len(data) // 2] ^= 0x01
    largest.write_bytes(bytes(data))
  if damage == "alter_checksum":
    # Arrays that Orbax restores without complaint but that are not the ones
    # saved: exactly what the recorded SHA-256 is there to catch.
    meta = workdir / "checkpoints" / "4" / "meta" / "metadata"
    record = json.loads(meta.read_text())
    record["lane_checksums"][0] = "0" * 64
    meta.write_text(json.dumps(record))
  for f in files:
    if damage == "truncate":
      f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif damage == "delete_files":
      f.unlink()
  caplog.clear()
  jaxmem.train(c, str(workdir))
  assert "checkpoint of epoch 4" in caplog.text and "unusable" in caplog.text
  # From the previous checkpoint, epoch 3, not from the start.
  assert processes.resumed_from(caplog.text) == 3
  assert processes.epochs_trained(caplog.text) == [4]
  if damage == "alter_checksum":
    assert "checksum mismatch" in caplog.text
  if damage == "flip_bytes":
    # Caught by the checksum, or by Orbax where the chunk is compressed
    # (zstd detects it); which depends on the chunk the bit lands in.
    assert "checksum mismatch" in caplog.text or "corruption" in caplog.text.lower()
  assert (workdir / "checkpoints_damaged" / "4").is_dir()  # Kept for a look.
  assert_same_results(reference, workdir)


def test_no_usable_checkpoint_needs_overwrite(tmp_path):
  c, workdir = _four_epochs(tmp_path, "run")
  _pretend_crashed(workdir)
  for epoch in (2, 3, 4):
    for f in _data_files(workdir, epoch):
      f.write_bytes(b"garbage")
  before = (workdir / "metrics.jsonl").read_bytes()
  with pytest.raises(errors.UserError, match="no usable checkpoint.*--overwrite"):
    jaxmem.train(c, str(workdir))
  assert (workdir / "metrics.jsonl").read_bytes() == before  # Nothing lost.
  jaxmem.train(c, str(workdir), overwrite=True)
  assert files.Workdir(workdir).status() == "done"


def test_resuming_with_another_config_names_the_keys(tmp_path, info_log):
  c, reference = _four_epochs(tmp_path, "reference")
  _, workdir = _four_epochs(tmp_path, "run")
  _pretend_crashed(workdir)
  for epoch in (3, 4):  # As if it had stopped after epoch 2.
    shutil.rmtree(workdir / "checkpoints" / str(epoch))
  other = tiny(num_epochs=4, learning_rate=0.5, batch_size=16)
  with pytest.raises(errors.UserError, match="batch_size, learning_rate"):
    jaxmem.train(other, str(workdir))
  # Execution-only keys may change on resume: here the lanes go vmapped two
  # at a time, and every epoch is evaluated in chunks of 7 examples.
  same = tiny(num_epochs=4, checkpoint_every_epochs=1, checkpoint_keep=3, lane_chunk=2,
              eval_batch_size=7)
  info_log.clear()
  jaxmem.train(same, str(workdir))
  assert processes.resumed_from(info_log.text) == 2
  assert processes.epochs_trained(info_log.text) == [3, 4]
  execution = files.Workdir(workdir).read_json("config.json")["execution"]
  assert execution["lane_chunk"] == 2
  # The same lanes: equal to float32 rounding (vmapped sums add in another order).
  a, b = (files.Workdir(w).read_metrics() for w in (reference, workdir))
  assert [(r["epoch"], r["lane"]) for r in a] == [(r["epoch"], r["lane"]) for r in b]
  for x, y in zip(a, b):
    for key in ("train_loss", "test_loss", "train_acc", "test_acc", "step_loss"):
      assert y[key] == pytest.approx(x[key], rel=1e-5, abs=1e-6), key
  ea, eb = (files.Workdir(w).read_examples() for w in (reference, workdir))
  for key in ("forgetting", "first_learned", "train_pred", "test_pred", "labels"):
    np.testing.assert_array_equal(ea[key], eb[key], err_msg=key)


def test_a_diverging_lane_is_frozen_marked_and_leaves_the_others_alone(tmp_path):
  with_bad = tiny(num_epochs=3, checkpoint_every_epochs=1, checkpoint_keep=3)
  with_bad.grid.learning_rate = (0.05, 1e30)
  without = tiny(num_epochs=3)
  without.grid.learning_rate = (0.05,)
  bad = jaxmem.train(with_bad, str(tmp_path / "bad"))
  good = jaxmem.train(without, str(tmp_path / "good"))
  for i in range(2):  # Seeds 0 and 1 of lr 0.05, unchanged by their neighbour.
    for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
      assert bad["lanes"][i][key] == pytest.approx(good["lanes"][i][key], rel=1e-5)
  for lane in bad["lanes"][2:]:
    assert lane["diverged"] and lane["diverged_epoch"] == 1
  assert bad["diverged_lanes"] == 2 and bad["points"][1]["diverged"] == 2
  assert bad["points"][1]["test_acc"]["n"] == 0
  assert bad["points"][0]["test_acc"] == good["points"][0]["test_acc"]
  status = files.Workdir(tmp_path / "bad").read_json("status.json")
  assert status["diverged_lanes"] == [2, 3]
  rows = files.Workdir(tmp_path / "bad").read_metrics()
  assert all(r["diverged"] == (r["lane"] >= 2) for r in rows)
  # Frozen: its parameters are finite and stop changing after the divergence.
  after_2, after_3 = (jax.tree.leaves(final_params(tmp_path / "bad", e)) for e in (2, 3))
  for p2, p3 in zip(after_2, after_3):
    assert np.all(np.isfinite(p3))
    np.testing.assert_array_equal(p2[2:], p3[2:])
    assert not np.array_equal(p2[:2], p3[:2])  # The healthy lanes moved on.


class _BatchNormMLP(nn.Module):
  """Dense, BatchNorm, ReLU, Dense: BatchNorm statistics at little compile cost."""
  num_classes: int

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Dense(16)(x.reshape(x.shape[0], -1))
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    return nn.Dense(self.num_classes)(nn.relu(x))


@pytest.mark.parametrize("model", ["mlp", "batch_norm_mlp"])
def test_a_diverged_lane_keeps_its_last_finite_parameters_and_statistics(
    tmp_path, monkeypatch, model):
  """One step per epoch and a checkpoint every epoch, so that the last finite
  state of a lane that diverges in epoch 2 is on disk: the checkpoint of
  epoch 1. Its parameters and BatchNorm statistics must stay exactly that,
  while the other lane's move on (the lanes vmapped together)."""
  monkeypatch.setattr(models, "MODELS", dict(models.MODELS))  # Restored after.
  models.register("batch_norm_mlp", _BatchNormMLP)
  c = tiny(model=model, num_seeds=1, num_epochs=3, batch_size=16, lane_chunk=2,
           checkpoint_every_epochs=1, checkpoint_keep=3,
           **{"synthetic.num_train": 16, "synthetic.num_test": 8})
  c.grid.learning_rate = (0.05, 1e30)
  result = jaxmem.train(c, str(tmp_path))
  assert [l["diverged_epoch"] for l in result["lanes"]] == [None, 2]
  ckpts = checkpoint.Checkpoints(tmp_path / "checkpoints", keep=3)
  states = {e: ckpts.read(e)[0]["state"]["train"] for e in (1, 2, 3)}
  ckpts.close()
  collections = ("params", "batch_stats") if model == "batch_norm_mlp" else ("params",)
  for name in collections:
    leaves = {e: jax.tree.leaves(states[e][name]) for e in states}
    assert leaves[1]
    for e in (2, 3):
      for before, after in zip(leaves[1], leaves[e]):
        assert np.all(np.isfinite(before[1]))
        np.testing.assert_array_equal(after[1], before[1])  # Frozen, bit for bit.
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(leaves[2], leaves[3]))


def test_a_checkpoint_is_a_snapshot_of_what_it_was_given(tmp_path):
  """Saving runs in the background: later changes must not leak into it."""
  ckpts = checkpoint.Checkpoints(tmp_path / "ck", keep=2)
  rows, flags = [{"epoch": 1}], np.zeros(3)
  ckpts.save(1, {"flags": flags}, {"rows": rows})
  rows.append({"epoch": 2})  # What the training loop does next.
  flags[0] = 7
  ckpts.wait()
  arrays, meta = ckpts.read(1)
  ckpts.close()
  assert meta["rows"] == [{"epoch": 1}]
  np.testing.assert_array_equal(arrays["flags"], [0, 0, 0])


def test_a_resume_starts_from_the_newest_good_checkpoint(tmp_path, info_log):
  """Checkpoints 2 and 3 on disk, both good: epoch 3's is the one resumed."""
  c, reference = _four_epochs(tmp_path, "reference")
  _, workdir = _four_epochs(tmp_path, "run")
  _pretend_crashed(workdir)
  shutil.rmtree(workdir / "checkpoints" / "4")
  info_log.clear()
  jaxmem.train(c, str(workdir))
  assert processes.resumed_from(info_log.text) == 3
  assert processes.epochs_trained(info_log.text) == [4]
  assert_same_results(reference, workdir)


def test_a_changed_metrics_file_is_refused_by_its_checksum(tmp_path):
  """A byte of metrics.jsonl changed before the checkpoint's length: the
  SHA-256 the checkpoint recorded no longer matches, so resuming would
  continue a history that is not the run's. Refused in one line; nothing
  is changed; --overwrite starts afresh."""
  c, workdir = _four_epochs(tmp_path, "run")
  _pretend_crashed(workdir)
  shutil.rmtree(workdir / "checkpoints" / "4")
  data = bytearray((workdir / "metrics.jsonl").read_bytes())
  at = data.index(b'"train_acc": ') + len(b'"train_acc": ')
  data[at] = ord("9") if data[at] != ord("9") else ord("8")
  (workdir / "metrics.jsonl").write_bytes(bytes(data))
  before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  with pytest.raises(errors.UserError, match=r"metrics.jsonl does not match its "
                     r"checkpoint .*--overwrite"):
    jaxmem.train(c, str(workdir))
  after = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  kept = lambda files: {p: v for p, v in files.items()
                        if p.name not in ("jaxmem.lock", "status.json")}
  assert kept(after) == kept(before)
  status = files.Workdir(workdir).read_status()
  assert status["status"] == "failed" and "does not match" in status["error"]
  jaxmem.train(c, str(workdir), overwrite=True)
  assert files.Workdir(workdir).status() == "done"


def test_the_next_start_removes_what_interrupted_writes_left(tmp_path, info_log):
  """Temporary files of atomic writes and Orbax's temporary checkpoint
  folders, as a SIGKILL mid-write leaves them; the user's files stay."""
  c, workdir = _four_epochs(tmp_path, "run")
  _pretend_crashed(workdir)
  shutil.rmtree(workdir / "checkpoints" / "4")
  leftovers = [workdir / ".status.json.k2j3h4", workdir / ".examples.npz.a8s7d6",
               workdir / "checkpoints" / "4.orbax-checkpoint-tmp-1733" / "arrays"]
  for path in leftovers:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"torn")
  (workdir / ".my_notes.swp").write_text("mine")
  info_log.clear()
  jaxmem.train(c, str(workdir))
  assert processes.resumed_from(info_log.text) == 3
  for path in leftovers:
    assert not path.exists(), path
  assert not (workdir / "checkpoints" / "4.orbax-checkpoint-tmp-1733").exists()
  assert (workdir / ".my_notes.swp").read_text() == "mine"


def test_a_checkpoint_of_other_lane_keys_is_refused(tmp_path, monkeypatch):
  """The same config, but lanes whose keys (and so labels, orders) differ,
  as another jaxmem version might derive them: the checkpoint's lanes are
  not these, so it is refused in one line rather than mixed in."""
  c, workdir = _four_epochs(tmp_path, "run")
  _pretend_crashed(workdir)
  shutil.rmtree(workdir / "checkpoints" / "4")
  monkeypatch.setitem(lanes_lib.STREAMS, "order", 99)
  before = (workdir / "metrics.jsonl").read_bytes()
  with pytest.raises(errors.UserError, match="made with other lane keys, labels or subsets"):
    jaxmem.train(c, str(workdir))
  assert (workdir / "metrics.jsonl").read_bytes() == before


def test_a_failed_background_save_stops_the_run_at_the_next_epoch(tmp_path, monkeypatch):
  """On accelerators saves run in the background; one that fails (here, as
  Orbax reports it: from check_for_errors) stops the run before the next
  epoch with one line and status failed; the rerun resumes."""
  failing = {"after": None}
  real_save = checkpoint.Checkpoints.save

  def save(self, epoch, arrays, meta):
    real_save(self, epoch, arrays, meta)
    if epoch == 2 and failing["after"] is None:
      failing["after"] = epoch
      def broken():
        raise OSError(28, "No space left on device")
      self.manager.check_for_errors = broken
  monkeypatch.setattr(checkpoint.Checkpoints, "save", save)
  c = tiny(num_epochs=4, checkpoint_every_epochs=2)
  workdir = tmp_path / "run"
  with pytest.raises(errors.UserError, match="cannot save the checkpoint of epoch 2 "
                     ".*No space left on device"):
    jaxmem.train(c, str(workdir))
  status = files.Workdir(workdir).read_status()
  assert status["status"] == "failed" and status["epoch"] == 2  # No epoch 3 trained.
  assert len(files.Workdir(workdir).read_metrics()) == 2 * 2
  monkeypatch.undo()
  jaxmem.train(c, str(workdir))
  assert files.Workdir(workdir).status() == "done"
