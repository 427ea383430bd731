"""The engine end to end: lanes, determinism, memorization, and the workdir files."""

import functools
import json

import jax
import numpy as np
import pytest

import jaxmem
from jaxmem import config as config_lib
from jaxmem import epoch as epoch_lib
from jaxmem import execution
from jaxmem import models
from jaxmem import run as run_lib
from jaxmem import steps
from jaxmem.models import cifar
from jaxmem.workdir import files
from tests import processes


def tiny(**overrides):
  """A config that trains in about a second: synthetic data, a small MLP."""
  c = config_lib.base_config()
  c.dataset = "synthetic"
  c.synthetic.update(dict(num_train=192, num_test=64, shape=(4, 4, 1)))
  c.model = "mlp"
  c.mlp_widths = (32,)
  c.num_epochs = 2
  c.batch_size = 32
  c.num_seeds = 2
  c.learning_rate = 0.05
  for key, value in overrides.items():
    target = c
    *path, last = key.split(".")
    for p in path:
      target = target[p]
    target[last] = value
  return c


def metrics_by_lane(wd, keys=("seed", "learning_rate", "label_corruption")):
  out = {}
  for row in files.Workdir(wd).read_metrics():
    ident = tuple(row.get(k) for k in keys) + (row["epoch"],)
    out[ident] = row
  return out


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
  c = tiny()
  c.grid.learning_rate = (0.05, 0.02)
  c.grid.label_corruption = (0.0, 1.0)
  path = tmp_path_factory.mktemp("grid")
  result = jaxmem.train(c, str(path))
  return c, path, result


def test_workdir_explains_itself(grid_run):
  c, path, result = grid_run
  for name in files.FILES:
    assert (path / name).exists(), name
  wd = files.Workdir(path)
  assert wd.status() == "done"
  cfg = wd.read_json("config.json")
  assert cfg["config"]["dataset"] == "synthetic" and len(cfg["lanes"]) == 8
  assert cfg["randomness"]["seed"] == 0
  rows = wd.read_metrics()
  assert len(rows) == 8 * c.num_epochs
  for key in ("epoch", "lane", "seed", "train_loss", "train_acc", "train_acc_clean",
              "test_loss", "test_acc", "elapsed_s", "learning_rate", "label_corruption"):
    assert key in rows[0], key
  assert all(0.0 <= r[k] <= 1.0 for r in rows for k in ("train_acc", "test_acc"))
  ex = wd.read_examples()
  assert ex["train_correct"].shape == (8, 192) and ex["test_correct"].shape == (8, 64)
  last = {r["lane"]: r for r in rows if r["epoch"] == c.num_epochs}
  for lane in range(8):  # The stored correctness reproduces the logged rates.
    assert ex["train_correct"][lane].mean() == pytest.approx(last[lane]["train_acc"])
    assert ex["test_correct"][lane].mean() == pytest.approx(last[lane]["test_acc"])
  np.testing.assert_array_equal(ex["corrupted"], ex["labels"] != ex["clean_labels"][None])
  assert ex["corrupted"][:2].sum() == 0 and ex["corrupted"][2:4].mean() > 0.8
  summary = wd.read_json("summary.json")
  assert len(summary["points"]) == 4 and summary["points"][0]["test_acc"]["n"] == 2
  # Each grid point's mean and std (ddof=1) over its two seeds, from the rows.
  final = [[last[i]["test_acc"], last[i + 1]["test_acc"]] for i in (0, 2, 4, 6)]
  np.testing.assert_allclose([p["test_acc"]["mean"] for p in summary["points"]],
                             np.mean(final, axis=1))
  np.testing.assert_allclose([p["test_acc"]["std"] for p in summary["points"]],
                             np.std(final, axis=1, ddof=1))
  assert np.std(final, axis=1, ddof=1).max() > 0  # Seeds differ: std means something.


def test_lane_alone_equals_lane_beside_others(grid_run, tmp_path):
  """Lane (lr 0.02, p 1.0, seed 0) trained alone reproduces the grid's lane."""
  _, path, _ = grid_run
  alone = tiny(num_seeds=1, learning_rate=0.02, label_corruption=1.0)
  jaxmem.train(alone, str(tmp_path))
  got = metrics_by_lane(tmp_path, ("seed",))
  want = metrics_by_lane(path)
  for epoch in (1, 2):
    a, b = got[(0, epoch)], want[(0, 0.02, 1.0, epoch)]
    for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
      assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key


def test_growing_seeds_keeps_the_first_seeds_lanes(tmp_path):
  one = jaxmem.train(tiny(num_seeds=1), str(tmp_path / "one"))
  three = jaxmem.train(tiny(num_seeds=3), str(tmp_path / "three"))
  assert one["lanes"][0]["test_loss"] == pytest.approx(three["lanes"][0]["test_loss"], rel=1e-6)
  assert one["lanes"][0]["train_loss"] == pytest.approx(three["lanes"][0]["train_loss"], rel=1e-6)
  losses = [l["train_loss"] for l in three["lanes"]]
  assert len(set(losses)) == 3  # Different seeds, different runs.


def test_seeds_split_over_jobs_equal_one_run(tmp_path):
  """first_seed lets hosts or jobs each train a slice of one sweep's seeds."""
  whole = jaxmem.train(tiny(num_seeds=3), str(tmp_path / "whole"))
  part = jaxmem.train(tiny(num_seeds=2, first_seed=1), str(tmp_path / "part"))
  assert [l["seed"] for l in part["lanes"]] == [1, 2]
  for got, want in zip(part["lanes"], whole["lanes"][1:]):
    assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6)
    assert got["test_acc"] == want["test_acc"]


def test_same_config_same_numbers_whatever_the_chunking(tmp_path):
  a = jaxmem.train(tiny(num_seeds=3, lane_chunk=1), str(tmp_path / "a"))
  b = jaxmem.train(tiny(num_seeds=3, lane_chunk=1), str(tmp_path / "b"))
  c = jaxmem.train(tiny(num_seeds=3, lane_chunk=2), str(tmp_path / "c"))
  assert [l["train_loss"] for l in a["lanes"]] == [l["train_loss"] for l in b["lanes"]]
  np.testing.assert_allclose([l["train_loss"] for l in a["lanes"]],
                             [l["train_loss"] for l in c["lanes"]], rtol=1e-5)
  ea = files.Workdir(tmp_path / "a").read_examples()
  eb = files.Workdir(tmp_path / "b").read_examples()
  for key in ea:
    np.testing.assert_array_equal(ea[key], eb[key])


def test_mlp_memorizes_random_labels_of_real_usps_digits(tmp_path):
  """Zhang's point on real data: random labels are fitted, and test at chance."""
  c = tiny(dataset="usps", train_size=512, test_size=500, num_seeds=2,
           model="mlp_1x512", num_epochs=50, batch_size=32, learning_rate=0.02,
           label_corruption=1.0, **{"preprocess.normalize": "standardize"})
  result = jaxmem.train(c, str(tmp_path))
  for lane in result["lanes"]:
    assert lane["train_acc"] > 0.95
    assert lane["test_acc"] < 0.2
    assert lane["train_acc_clean"] < 0.3  # It fits the random labels, not the digits.


def _same_permutation_of_columns(clean_train, clean_test, train, test) -> bool:
  """Whether one permutation P of pixel positions maps every clean image of
  both splits to its corrupted one: corrupted[:, q] == clean[:, P(q)]. Pixel
  positions whose columns tie over the training images may map to any of
  the tied ones."""
  flat = lambda x: x.reshape(len(x), -1)
  ctr, cte, tr, te = map(flat, (clean_train, clean_test, train, test))
  for q in range(tr.shape[1]):
    candidates = np.flatnonzero((ctr == tr[:, q:q + 1]).all(axis=0))
    if not any((cte[:, p] == te[:, q]).all() for p in candidates):
      return False
  return True


def test_each_lanes_input_corruption_is_what_its_condition_says(tmp_path):
  """On real digits, each lane's images are what its condition defines
  (checked in NumPy on the images), the test images are corrupted the same
  way, and evaluation used them: its final test predictions are the model's
  on those images. Swapping two lanes' corruptions fails here."""
  c = tiny(dataset="digits", num_seeds=1, num_epochs=1, cache_inputs="on")
  c.grid.condition = ("true_labels", "shuffled_pixels", "random_pixels", "gaussian")
  jaxmem.train(c, str(tmp_path))
  the_run = run_lib.Run.from_workdir(tmp_path)
  ds, images = the_run.dataset, the_run.constants.images
  clean = dict(train=ds.train.images, test=ds.test.images)
  conditions = [l["condition"] for l in files.Workdir(tmp_path).read_json("config.json")["lanes"]]
  assert conditions == list(c.grid.condition)
  ex = files.Workdir(tmp_path).read_examples()
  params = processes.final_params(tmp_path)
  for lane, condition in enumerate(conditions):
    got = {s: np.asarray(images[s][lane]) for s in ("train", "test")}
    if condition == "true_labels":
      for s in got:
        np.testing.assert_array_equal(got[s], clean[s])
    elif condition == "shuffled_pixels":  # One permutation, both splits.
      assert not np.array_equal(got["train"], clean["train"])
      assert _same_permutation_of_columns(clean["train"], clean["test"], got["train"],
                                          got["test"])
    elif condition == "random_pixels":  # Each image its own permutation.
      for s in got:
        np.testing.assert_array_equal(np.sort(got[s].reshape(len(got[s]), -1), 1),
                                      np.sort(clean[s].reshape(len(clean[s]), -1), 1))
      assert not _same_permutation_of_columns(clean["train"], clean["test"],
                                              got["train"], got["test"])
    else:  # Gaussian with the TRAINING set's per-channel mean and std.
      mean, std = clean["train"].mean(axis=(0, 1, 2)), clean["train"].std(axis=(0, 1, 2))
      assert abs(mean[0]) > 0.2 and abs(std[0] - 1) > 0.2  # Not standard normal.
      for s in got:
        np.testing.assert_allclose(got[s].mean(axis=(0, 1, 2)), mean, atol=0.005)
        np.testing.assert_allclose(got[s].std(axis=(0, 1, 2)), std, rtol=0.02)
    lane_params = jax.tree.map(lambda x, l=lane: x[l], params)
    logits = the_run.task.model.apply({"params": lane_params}, got["test"], train=False)
    np.testing.assert_array_equal(np.argmax(logits, -1), ex["test_pred"][lane])


def test_finished_run_is_not_overwritten(grid_run):
  c, path, _ = grid_run
  before = (path / "metrics.jsonl").read_bytes()
  with pytest.raises(Exception, match="--overwrite"):
    jaxmem.train(c, str(path))
  assert (path / "metrics.jsonl").read_bytes() == before


def test_cached_input_corruptions_give_the_results_of_regenerated_ones(tmp_path):
  """config.cache_inputs: the corrupted images made once per run, or at every
  step, are the same values, so every output file is the same."""
  conditions = ("true_labels", "shuffled_pixels", "random_pixels", "gaussian")
  runs = {}
  for cache in ("on", "off"):
    c = tiny(**{"grid.condition": conditions, "cache_inputs": cache,
                "synthetic.num_train": 256, "synthetic.shape": (6, 6, 1)})
    runs[cache] = tmp_path / cache
    jaxmem.train(c, str(runs[cache]))
  configs = {k: files.Workdir(v).read_json("config.json") for k, v in runs.items()}
  assert configs["on"]["execution"]["cached_inputs"] is True
  assert configs["off"]["execution"]["cached_inputs"] is False
  strip = lambda path: [{k: v for k, v in json.loads(l).items() if k != "elapsed_s"}
                        for l in (path / "metrics.jsonl").read_text().splitlines()]
  assert strip(runs["on"]) == strip(runs["off"])
  on, off = (files.Workdir(v).read_examples() for v in runs.values())
  assert on.keys() == off.keys()
  for key in on:
    np.testing.assert_array_equal(on[key], off[key], err_msg=key)
  # The corruptions did change what the lanes saw: their test accuracies differ.
  accs = {r["condition"]: r["test_acc"] for r in files.Workdir(runs["on"]).read_metrics()}
  assert len(set(accs.values())) > 1


@pytest.mark.parametrize("kind,draw", [("flip", "shared"), ("uniform", "per_seed")])
def test_label_corruption_kinds_and_draws_in_a_run(tmp_path, kind, draw):
  """On real digits at p = 0.4: Toneva's `flip` changes exactly round(pN)
  labels, each to another class; Zhang's `uniform` about p(1 - 1/C) of them.
  A `shared` draw gives every seed the same labels; `per_seed` its own."""
  c = tiny(dataset="digits", num_epochs=1, num_seeds=3, label_corruption=0.4,
           label_corruption_kind=kind, corruption_draw=draw)
  jaxmem.train(c, str(tmp_path))
  ex = files.Workdir(tmp_path).read_examples()
  labels, clean = ex["labels"], ex["clean_labels"]
  changed = (labels != clean[None]).sum(axis=1)
  n = len(clean)
  if kind == "flip":
    assert (changed == round(0.4 * n)).all()
  else:  # 0.36 N +- 4 standard deviations.
    assert (np.abs(changed / n - 0.36) < 4 * np.sqrt(0.36 * 0.64 / n)).all()
  same = [np.array_equal(labels[0], labels[i]) for i in (1, 2)]
  assert all(same) if draw == "shared" else not any(same)
  np.testing.assert_array_equal(ex["corrupted"], labels != clean[None])


@pytest.mark.parametrize("loss,nesterov,weight_decay,chunk", [
    ("cross_entropy", False, 0.0, 1), ("mse", True, 1e-2, 2)])
def test_an_epoch_of_two_steps_is_the_update_computed_by_hand(
    tmp_path, loss, nesterov, weight_decay, chunk):
  """SGD with momentum (plain or Nesterov) and L2 weight decay, on
  cross-entropy or LeCun's MSE to +-1 targets, lanes one at a time or
  vmapped two together: two steps written out here from the definitions,
  with jax.grad of the model's loss."""
  c = tiny(num_seeds=2, num_epochs=1, batch_size=32, loss=loss, nesterov=nesterov,
           weight_decay=weight_decay, momentum=0.9, learning_rate=0.1,
           lane_chunk=chunk, **{"synthetic.num_train": 64})
  jaxmem.train(c, str(tmp_path))
  final, the_run = processes.final_params(tmp_path), run_lib.Run.build(c)
  images = the_run.dataset.train.images
  for lane_index in (0, 1):
    one = lambda tree, i=lane_index: jax.tree.map(lambda x: x[i], tree)
    got, params, lane = one(final), one(the_run.state.train.params), one(the_run.constants)
    order = epoch_lib.epoch_order(the_run.task, lane, 0)
    labels = np.asarray(lane.labels)

    def mean_loss(p, index, labels=labels):
      logits = the_run.task.model.apply({"params": p}, images[index], train=False)
      if loss == "mse":
        targets = 2.0 * jax.nn.one_hot(labels[index], 10) - 1.0
        return jax.numpy.mean(jax.numpy.mean((logits - targets) ** 2, axis=-1))
      log_p = jax.nn.log_softmax(logits)
      return -jax.numpy.mean(log_p[np.arange(len(index)), labels[index]])

    velocity = jax.tree.map(np.zeros_like, params)
    for step in range(2):
      g = jax.tree.map(lambda grad, p: grad + weight_decay * p,
                       jax.grad(mean_loss)(params, np.asarray(order[step])), params)
      velocity = jax.tree.map(lambda v, gi: gi + 0.9 * v, velocity, g)
      update = (jax.tree.map(lambda v, gi: gi + 0.9 * v, velocity, g) if nesterov
                else velocity)
      params = jax.tree.map(lambda p, u: p - 0.1 * u, params, update)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(params)):
      np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
