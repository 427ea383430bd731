"""Measures: accumulators equal the full history, cadence, the registry, the Run."""

import ast
import json
import pathlib
import shutil

import jax
import numpy as np
import pytest

import jaxmem
from jaxmem import measures
from jaxmem import run as run_lib
from jaxmem.analysis import dynamics
from jaxmem.workdir import files
from jaxmem.workdir import history
from tests.test_train import tiny

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def with_history(tmp_path_factory):
  """A run with its full history: subsets, two label levels, and a dropped
  remainder (96 of each lane's 96 examples in batches of 40: 16 skipped)."""
  c = tiny(num_seeds=2, num_epochs=5, subset_ratio=0.5, batch_size=40,
           record_history="on")
  c.grid.label_corruption = (0.0, 1.0)
  path = tmp_path_factory.mktemp("history") / "run"
  jaxmem.train(c, str(path))
  stored = history.open_history(path / "history")
  return c, files.Workdir(path).read_examples(), {
      k: v.read().result() for k, v in stored.items()}


def test_every_accumulator_equals_what_the_history_gives(with_history):
  c, ex, h = with_history
  presented, pred = h["presented"], h["train_pred"]
  assert presented.shape == (4, 5, 192) and pred.shape == (4, 5, 192)
  # The dropped remainder: 16 of each lane's 96 examples miss each epoch.
  assert ((presented >= 0).sum(axis=-1) == 80).all()
  np.testing.assert_array_equal(ex["presentations"], (presented >= 0).sum(axis=1))
  np.testing.assert_array_equal(ex["forgetting"], dynamics.forgetting_events(presented))
  first = dynamics.first_learned_epoch(presented == 1)
  np.testing.assert_array_equal(ex["first_learned"], first)
  np.testing.assert_array_equal(ex["ever_learned"], first > 0)
  last = np.full((4, 192), -1)
  for e in range(5):  # The last presentation's verdict.
    last = np.where(presented[:, e] >= 0, presented[:, e], last)
  np.testing.assert_array_equal(ex["last_presented"], last)
  correct = pred == ex["labels"][:, None]
  np.testing.assert_array_equal(ex["first_correct"], dynamics.first_learned_epoch(correct))
  np.testing.assert_array_equal(ex["settled"], dynamics.settled_epoch(pred))
  np.testing.assert_array_equal(ex["correct_epoch1"], correct[:, 0])
  np.testing.assert_array_equal(ex["train_correct_count"], correct.sum(axis=1))
  assert (ex["evaluations"] == 5).all()
  np.testing.assert_array_equal(ex["train_pred"], pred[:, -1])
  np.testing.assert_array_equal(ex["test_pred"], h["test_pred"][:, -1])
  np.testing.assert_array_equal(
      ex["test_correct_count"], (h["test_pred"] == ex["test_labels"]).sum(axis=1))
  assert not ex["in_subset"].all()  # Held-out examples are in it too.
  assert (ex["presentations"][~ex["in_subset"]] == 0).all()


def test_a_kill_mid_append_leaves_a_history_that_resumes_identically(tmp_path):
  c = tiny(num_seeds=2, num_epochs=4, checkpoint_every_epochs=2, record_history="on")
  jaxmem.train(c, str(tmp_path / "reference"))
  workdir = tmp_path / "run"
  jaxmem.train(c, str(workdir))
  # As if killed while appending epoch 4, after epoch 3 was complete and the
  # checkpoint of epoch 2 saved: no checkpoint 4, epoch 4's chunks torn.
  shutil.rmtree(workdir / "checkpoints" / "4")
  (workdir / "history" / "epochs.json").write_text('{"epochs": 3}')
  for chunk in (workdir / "history" / "train_pred").glob("*.3.*"):
    chunk.write_bytes(chunk.read_bytes()[: len(chunk.read_bytes()) // 2])
  status = json.loads((workdir / "status.json").read_text())
  (workdir / "status.json").write_text(json.dumps(dict(status, status="running")))
  jaxmem.train(c, str(workdir))
  a = history.open_history(tmp_path / "reference" / "history")
  b = history.open_history(workdir / "history")
  for key in a:
    np.testing.assert_array_equal(a[key].read().result(), b[key].read().result())
  np.testing.assert_array_equal(np.load(tmp_path / "reference" / "examples.npz")["forgetting"],
                                np.load(workdir / "examples.npz")["forgetting"])


def test_evaluation_every_k_epochs_leaves_the_others_null(tmp_path):
  c = tiny(num_seeds=1, num_epochs=5, eval_every_epochs=2, record_history="on")
  jaxmem.train(c, str(tmp_path))
  rows = files.Workdir(tmp_path).read_metrics()
  evaluated = {r["epoch"] for r in rows if r["test_acc"] is not None}
  assert evaluated == {2, 4, 5}  # Every 2 epochs, and the last.
  assert all(r["step_acc"] is not None for r in rows)  # Training is measured always.
  ex = files.Workdir(tmp_path).read_examples()
  assert (ex["evaluations"] == 3).all()
  assert (ex["correct_epoch1"] == -1).all()  # Epoch 1 was not evaluated.
  pred = history.open_history(tmp_path / "history")["train_pred"].read().result()
  assert (pred[:, [0, 2]] == -1).all() and (pred[:, [1, 3, 4]] >= 0).all()
  assert set(np.unique(ex["first_correct"])) <= {-1, 2, 4, 5}


def test_the_registry_holds_the_measures_in_order_and_their_columns():
  assert [m.name for m in measures.ALL] == ["train_eval", "test_eval", "forgetting",
                                            "learning", "critical", "depth"]
  names = [m.name for m in measures.enabled(tiny())]
  assert "critical" not in names and "depth" not in names
  assert {"critical", "depth"} <= {m.name for m in measures.enabled(
      tiny(**{"critical.every_epochs": 1, "depth.k": 3}))}
  columns = [c for m in measures.ALL for c in m.columns]
  assert len(columns) == len(set(columns)) and "critical_ratio" in columns


def test_history_is_auto_only_when_small():
  c = tiny(num_epochs=20)
  assert history.wanted(c, 4, 192, 64)
  assert not history.wanted(c, 1024, 50_000, 10_000)  # 2.2 GB.
  c.record_history = "off"
  assert not history.wanted(c, 4, 192, 64)


def test_run_from_an_older_workdir_takes_todays_defaults(tmp_path):
  c = tiny(num_seeds=2)
  jaxmem.train(c, str(tmp_path))
  described = json.loads((tmp_path / "config.json").read_text())
  for field in ("eval_every_epochs", "record_history", "depth"):
    del described["config"][field]  # As a workdir written before these existed.
  (tmp_path / "config.json").write_text(json.dumps(described))
  the_run = run_lib.Run.from_workdir(tmp_path)
  assert the_run.config.eval_every_epochs == 1 and the_run.config.depth.k == 0
  assert the_run.num_lanes == 2
  assert the_run.state.train.step.tolist() == [12, 12]  # 2 epochs of 6 steps.


def _events(folder: pathlib.Path) -> list:
  """Every event in a folder's TensorBoard files (TFRecord framing)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  events = []
  for path in sorted(folder.glob("events.out.tfevents.*")):
    data, at = path.read_bytes(), 0
    while at < len(data):
      length = int.from_bytes(data[at:at + 8], "little")
      event = event_pb2.Event()
      event.ParseFromString(data[at + 12: at + 12 + length])
      events.append(event)
      at += 12 + length + 4
  return events


def test_tensorboard_curves_per_lane_and_per_grid_point(tmp_path):
  c = tiny(num_seeds=2, num_epochs=2, tensorboard=True)
  c.grid.label_corruption = (0.0, 1.0)
  jaxmem.train(c, str(tmp_path))
  scalars = {}
  for event in _events(tmp_path / "tensorboard"):
    for value in event.summary.value:
      scalars[(value.tag, event.step)] = value.simple_value
  rows = files.Workdir(tmp_path).read_metrics()
  for r in rows:
    assert scalars[(f"lane_{r['lane']}/test_acc", r["epoch"])] == pytest.approx(r["test_acc"])
  point = [r["test_acc"] for r in rows if r["epoch"] == 2 and r["label_corruption"] == 1.0]
  assert scalars[("label_corruption_1.0/test_acc/mean", 2)] == pytest.approx(np.mean(point))
  assert scalars[("label_corruption_1.0/test_acc/std", 2)] == pytest.approx(
      np.std(point, ddof=1))


def test_presentations_are_judged_on_the_labels_trained_on(tmp_path):
  """Forgetting, first_learned and step_acc judge each presentation against
  the label the lane trains on, not the clean one (Toneva et al.'s noisy-label
  experiments depend on it). Reference: at learning rate 0 the network stays
  at its initialization, so every verdict is argmax(model(x)) == label,
  computed here with Flax alone."""
  c = tiny(num_seeds=1, num_epochs=2, learning_rate=0.0, record_history="on")
  c.grid.label_corruption = (0.0, 1.0)
  jaxmem.train(c, str(tmp_path))
  ex = files.Workdir(tmp_path).read_examples()
  the_run = run_lib.Run.build(c)
  images = the_run.dataset.train.images
  presented = history.open_history(tmp_path / "history")["presented"].read().result()
  rows = {(r["lane"], r["epoch"]): r for r in files.Workdir(tmp_path).read_metrics()}
  for lane in range(2):
    params = jax.tree.map(lambda x, l=lane: x[l], the_run.state.train.params)
    pred = np.argmax(the_run.task.model.apply({"params": params}, images, train=False), -1)
    right = pred == ex["labels"][lane]
    if lane == 1:  # Random labels: judging on the clean ones would differ.
      assert (right != (pred == ex["clean_labels"])).sum() >= 20
    shown = presented[lane] >= 0
    np.testing.assert_array_equal(presented[lane][shown],
                                  np.broadcast_to(right, shown.shape)[shown])
    np.testing.assert_array_equal(ex["first_learned"][lane], np.where(right, 1, -1))
    assert (ex["forgetting_events"][lane] == 0).all()  # Nothing changes.
    for epoch in (1, 2):
      assert rows[(lane, epoch)]["step_acc"] == pytest.approx(
          right[presented[lane, epoch - 1] >= 0].mean())
