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
  assert [m.name for m in measures.ALL] == ["train_eval", "test_eval", "outputs",
                                            "forgetting", "learning", "critical", "depth",
                                            "aum", "data_map", "loss", "entropy", "el2n",
                                            "grand"]
  names = [m.name for m in measures.enabled(tiny())]
  assert "critical" not in names and "depth" not in names and "outputs" not in names
  assert "outputs" in {m.name for m in measures.enabled(tiny(subset_ratio=0.5))}
  assert {"critical", "depth"} <= {m.name for m in measures.enabled(
      tiny(**{"critical.every_epochs": 1, "depth.k": 3}))}
  assert not {"aum", "el2n", "grand"} & set(names)  # Scores only when named.
  scored = tiny(**{"scores.names": ("aum", "el2n"), "scores.el2n_epochs": (1,)})
  assert [m.name for m in measures.enabled(scored)][-2:] == ["aum", "el2n"]
  columns = [c for m in measures.ALL for c in m.columns]
  assert len(columns) == len(set(columns)) and "critical_ratio" in columns


def test_history_is_auto_only_when_small():
  c = tiny(num_epochs=20)
  assert history.wanted(c, 4, 192, 64)
  assert not history.wanted(c, 1024, 50_000, 10_000)  # 2.2 GB.
  # Presentation scores take 4 bytes each per lane, epoch and example.
  assert history.wanted(c, 64, 50_000, 10_000)  # 141 MB.
  assert not history.wanted(c, 64, 50_000, 10_000, num_scores=4)  # 1.16 GB.
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


def _reader(folder: pathlib.Path):
  """TensorBoard's own reader of a folder of runs."""
  from tensorboard.backend.event_processing import event_multiplexer  # pylint: disable=g-import-not-at-top
  multiplexer = event_multiplexer.EventMultiplexer()
  multiplexer.AddRunsFromDirectory(str(folder))
  multiplexer.Reload()
  return multiplexer


def test_tensorboard_shows_a_run_per_grid_point_with_overlaying_tags_and_hparams(
    tmp_path):
  from tensorboard.plugins.hparams import plugin_data_pb2  # pylint: disable=g-import-not-at-top
  c = tiny(num_seeds=2, num_epochs=2, tensorboard=True, tensorboard_lanes=True)
  c.grid.label_corruption = (0.0, 1.0)
  jaxmem.train(c, str(tmp_path))
  reader = _reader(tmp_path / "tensorboard")
  points = {"label_corruption=0.0", "label_corruption=1.0"}
  lanes = {f"label_corruption={p}/lane_{l}" for p, ls in (("0.0", (0, 1)), ("1.0", (2, 3)))
           for l in ls}
  assert set(reader.Runs()) == points | lanes
  rows = files.Workdir(tmp_path).read_metrics()
  for run in points:  # The same tags in every point's run: one chart each.
    tags = set(reader.Runs()[run]["scalars"])
    assert {"test_acc/mean", "test_acc/std", "train_loss/mean"} <= tags
    level = float(run.split("=")[1])
    for epoch in (1, 2):
      accs = [r["test_acc"] for r in rows if r["epoch"] == epoch
              and r["label_corruption"] == level]
      mean, = [e.value for e in reader.Scalars(run, "test_acc/mean") if e.step == epoch]
      std, = [e.value for e in reader.Scalars(run, "test_acc/std") if e.step == epoch]
      assert mean == pytest.approx(np.mean(accs)) and std == pytest.approx(
          np.std(accs, ddof=1))
  for run in lanes:
    lane = int(run.rsplit("_", 1)[1])
    got = {e.step: e.value for e in reader.Scalars(run, "test_acc")}
    assert got == {r["epoch"]: pytest.approx(r["test_acc"]) for r in rows
                   if r["lane"] == lane}
  content = reader.PluginRunToTagToContent("hparams")
  for run in points:
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content[run]["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["label_corruption"].number_value == float(run.split("=")[1])
    assert start.hparams["learning_rate"].number_value == pytest.approx(0.05)
