"""Sweeps that survive: SIGKILL and resume, damaged checkpoints, diverging lanes."""

import json
import random
import signal
import time

import jax
import numpy as np
import pytest

from jaxmem import checkpoint
from jaxmem import errors
from jaxmem import records
from jaxmem import train
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
  kills = []
  for target in (1, 4, 7) if history == "on" else (4,):
    proc = _start(workdir, *extra)
    deadline = time.time() + 240
    while _epoch(workdir) < target and proc.poll() is None and time.time() < deadline:
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.3))  # Anywhere: mid-epoch, mid-save.
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills.append(_epoch(workdir))
    assert records.Workdir(workdir).status() == "running"
    for line in (workdir / "metrics.jsonl").read_text().splitlines():
      json.loads(line)  # Never a torn line.
  assert kills == sorted(kills) and kills[-1] < 10, kills
  assert processes.finish(_start(workdir, *extra)) == 0
  assert (workdir / "history").exists() == (history == "on")
  assert_same_results(uninterrupted if history == "on" else uninterrupted_no_history,
                      workdir)


def _four_epochs(tmp_path, name):
  c = tiny(num_epochs=4, checkpoint_every_epochs=1, checkpoint_keep=3)
  train.run(c, str(tmp_path / name))
  return c, tmp_path / name


def _pretend_crashed(workdir):
  status = json.loads((workdir / "status.json").read_text())
  (workdir / "status.json").write_text(json.dumps(dict(status, status="running")))


def _data_files(workdir, epoch):
  return sorted(p for p in (workdir / "checkpoints" / str(epoch) / "arrays").rglob("*")
                if p.is_file() and "/d/" in str(p))


@pytest.mark.parametrize("damage", ["truncate", "flip_bytes", "delete_files",
                                    "alter_checksum"])
def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog, damage):
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
  train.run(c, str(workdir))
  assert "checkpoint of epoch 4" in caplog.text and "unusable" in caplog.text
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
    train.run(c, str(workdir))
  assert (workdir / "metrics.jsonl").read_bytes() == before  # Nothing lost.
  train.run(c, str(workdir), overwrite=True)
  assert records.Workdir(workdir).status() == "done"


def test_resuming_with_another_config_names_the_keys(tmp_path):
  c, workdir = _four_epochs(tmp_path, "run")
  _pretend_crashed(workdir)
  other = tiny(num_epochs=4, learning_rate=0.5, batch_size=16)
  with pytest.raises(errors.UserError, match="batch_size, learning_rate"):
    train.run(other, str(workdir))
  # Execution-only keys may change on resume.
  same = tiny(num_epochs=4, checkpoint_every_epochs=1, checkpoint_keep=3, lane_chunk=2)
  train.run(same, str(workdir))


def test_a_diverging_lane_is_frozen_marked_and_leaves_the_others_alone(tmp_path):
  with_bad = tiny(num_epochs=3, checkpoint_every_epochs=1, checkpoint_keep=3)
  with_bad.grid.learning_rate = (0.05, 1e30)
  without = tiny(num_epochs=3)
  without.grid.learning_rate = (0.05,)
  bad = train.run(with_bad, str(tmp_path / "bad"))
  good = train.run(without, str(tmp_path / "good"))
  for i in range(2):  # Seeds 0 and 1 of lr 0.05, unchanged by their neighbour.
    for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
      assert bad["lanes"][i][key] == pytest.approx(good["lanes"][i][key], rel=1e-5)
  for lane in bad["lanes"][2:]:
    assert lane["diverged"] and lane["diverged_epoch"] == 1
  assert bad["diverged_lanes"] == 2 and bad["points"][1]["diverged"] == 2
  assert bad["points"][1]["test_acc"]["n"] == 0
  assert bad["points"][0]["test_acc"] == good["points"][0]["test_acc"]
  status = records.Workdir(tmp_path / "bad").read_json("status.json")
  assert status["diverged_lanes"] == [2, 3]
  rows = records.Workdir(tmp_path / "bad").read_metrics()
  assert all(r["diverged"] == (r["lane"] >= 2) for r in rows)
  # Frozen: its parameters are finite and stop changing after the divergence.
  after_2, after_3 = (jax.tree.leaves(final_params(tmp_path / "bad", e)) for e in (2, 3))
  for p2, p3 in zip(after_2, after_3):
    assert np.all(np.isfinite(p3))
    np.testing.assert_array_equal(p2[2:], p3[2:])
    assert not np.array_equal(p2[:2], p3[:2])  # The healthy lanes moved on.


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
