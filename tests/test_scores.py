"""The per-example scores (jaxmem.measures.scores): accumulators against the
full history, the definitions of their authors' code on hand-computed cases,
EL2N and GraNd against a recomputation from the trained networks."""

import types
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmem
from jaxmem import lanes as lanes_lib
from jaxmem import run as run_lib
from jaxmem import steps
from jaxmem.measures import scores
from jaxmem.workdir import files
from jaxmem.workdir import history
from tests.test_train import tiny

ALL = ("aum", "data_map", "loss", "entropy", "el2n", "grand")


def scored(**overrides):
  """tiny() with every score: subsets of 144 of 192 examples in batches of 40
  (24 skipped each epoch), 30% label noise, AUM threshold samples."""
  return tiny(num_seeds=2, num_epochs=5, subset_ratio=0.75, batch_size=40,
              label_corruption=0.3, record_history="on",
              **{"scores.names": ALL, "scores.el2n_epochs": (0, 2, 5),
                 "scores.grand_epochs": (0, 5), "scores.threshold_samples": True,
                 "scores.grand_chunk": 7, **overrides})


@pytest.fixture(scope="module")
def run_with_history(tmp_path_factory):
  c = scored()
  path = tmp_path_factory.mktemp("scores") / "run"
  jaxmem.train(c, str(path))
  stored = history.open_history(path / "history")
  return c, path, files.Workdir(path).read_examples(), {
      k: v.read().result() for k, v in stored.items()}


def test_score_accumulators_equal_what_the_history_gives(run_with_history):
  _, _, ex, h = run_with_history
  shown = h["presented"] >= 0  # [L, E, N]
  assert ((shown.sum(axis=-1)) == 120).all()  # 3 batches of 40 of 144 examples.
  for key in ("margin", "prob", "loss", "entropy"):
    assert h[key].shape == (2, 5, 192) and h[key].dtype == np.float32
    assert (np.isnan(h[key]) == ~shown).all()
  mean = lambda x, keep: np.where(keep.sum(1) > 0, np.where(keep, x, 0).sum(1)
                                  / np.maximum(keep.sum(1), 1), np.nan)
  later = shown & (np.arange(5) >= 1)[None, :, None]  # AUM skips epoch 1.
  close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  close(ex["aum"], mean(h["margin"], later))
  last = np.full((2, 192), np.nan)
  for e in range(5):
    last = np.where(shown[:, e], h["margin"][:, e], last)
  close(ex["margin"], last)
  close(ex["confidence"], mean(h["prob"], shown))
  with warnings.catch_warnings():  # NaN where never presented.
    warnings.simplefilter("ignore", RuntimeWarning)
    close(ex["variability"], np.nanstd(h["prob"], axis=1))  # ddof=0, as np.std.
  close(ex["correctness"], mean(h["presented"] == 1, shown))
  close(ex["mean_loss"], mean(h["loss"], shown))
  close(ex["mean_entropy"], mean(h["entropy"], shown))
  # Never presented (outside the subset): NaN, not 0.
  outside = ~ex["in_subset"]
  assert outside.any() and np.isnan(ex["aum"][outside]).all()
  assert np.isnan(ex["confidence"][outside]).all()
  # Threshold samples: 144 // 11 per lane, in its subset, labelled 10, not noise.
  thr = ex["threshold_sample"]
  assert (thr.sum(axis=1) == lanes_lib.num_threshold(144, 10)).all()
  assert (ex["labels"][thr] == 10).all() and (ex["labels"][~thr] < 10).all()
  assert ex["in_subset"][thr].all() and not ex["corrupted"][thr].any()
  assert not np.array_equal(thr[0], thr[1])  # Each lane draws its own.
  # aum_flagged: the authors' comparison, literally (AUM_WTR).
  for lane in range(2):
    aum, t = ex["aum"][lane], ex["aum"][lane][thr[lane]]
    wtr = (aum[:, None] < t[None, :]).mean(axis=1) > 0.01
    expect = wtr & ~thr[lane] & np.isfinite(aum)
    np.testing.assert_array_equal(ex["aum_flagged"][lane], expect)
    assert ex["aum_threshold"][lane] == pytest.approx(np.percentile(t, 99))


def test_presented_values_follow_their_definitions():
  """With a learning rate of 0 the network never changes, so every
  presentation's values are those of the initial network in evaluation mode
  (an MLP: no dropout, no BatchNorm), computed here with NumPy."""
  c = tiny(num_epochs=2, learning_rate=0.0, record_history="on",
           **{"scores.names": ("aum", "data_map", "loss", "entropy")})
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as path:
    jaxmem.train(c, path)
    h = {k: v.read().result() for k, v in history.open_history(f"{path}/history").items()}
    labels = files.Workdir(path).read_examples()["labels"]
  run = run_lib.Run.build(c)
  for lane in range(2):
    params = jax.tree.map(lambda x: x[lane], run.state.train.params)
    logits = np.asarray(run.task.model.apply({"params": params}, run.data.train_images,
                                             train=False), np.float64)
    y = labels[lane]
    own = logits[np.arange(192), y]
    other = np.where(np.eye(10, dtype=bool)[y], -np.inf, logits).max(axis=1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    for e in range(2):
      seen = h["presented"][lane, e] >= 0
      np.testing.assert_allclose(h["margin"][lane, e][seen], (own - other)[seen], atol=2e-5)
      np.testing.assert_allclose(h["prob"][lane, e][seen], p[np.arange(192), y][seen],
                                 rtol=2e-5)
      np.testing.assert_allclose(h["loss"][lane, e][seen],
                                 -np.log(p[np.arange(192), y])[seen], rtol=2e-5)
      np.testing.assert_allclose(h["entropy"][lane, e][seen],
                                 -(p * np.log(p)).sum(1)[seen], rtol=2e-5)


def _reference_scores(run, lane: int, labels: np.ndarray, params=None):
  """EL2N and GraNd of one lane as data_diet computes them: softmax minus
  one-hot; jacrev of the per-sample losses, flattened, then the row norms."""
  params = params or jax.tree.map(lambda x: x[lane], run.state.train.params)
  x, y = run.data.train_images, jnp.asarray(labels)
  fn = lambda p, x: run.task.model.apply({"params": p}, x, train=False)
  probs = np.asarray(jax.nn.softmax(fn(params, x)), np.float64)
  el2n = np.linalg.norm(probs - np.eye(probs.shape[1])[labels], axis=1)
  per_sample = lambda p, x, y: steps.loss_per_example("cross_entropy", fn(p, x), y)
  jac = jax.jacrev(per_sample)(params, x, y)
  flat = np.concatenate([np.asarray(j).reshape(len(labels), -1)
                         for j in jax.tree.leaves(jac)], axis=1)
  return el2n, np.linalg.norm(flat, axis=1)


def test_el2n_and_grand_equal_data_diets_computation(run_with_history):
  c, path, ex, _ = run_with_history
  initial = run_lib.Run.build(c)
  final = run_lib.Run.from_workdir(path)
  for lane in range(2):
    for run, epoch in ((initial, 0), (final, 5)):
      el2n, grand = _reference_scores(run, lane, ex["labels"][lane])
      np.testing.assert_allclose(ex[f"el2n_e{epoch}"][lane], el2n, rtol=1e-4, atol=1e-6)
      np.testing.assert_allclose(ex[f"grand_e{epoch}"][lane], grand, rtol=1e-4, atol=1e-6)
  assert np.isfinite(ex["el2n_e2"]).all()
  assert not np.allclose(ex["el2n_e0"], ex["el2n_e5"])  # Training moved them.
  assert "grand_e2" not in ex  # Only the epochs asked for.


class Linear(nn.Module):
  """logits = W x + b, for the hand-computed GraNd."""
  num_classes: int

  @nn.compact
  def __call__(self, x, train=False):
    del train
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


def test_hand_computed_cases_agree_with_the_authors_definitions():
  # Margins on logits (asappresearch/aum `AUMCalculator.update`): the label's
  # logit minus the largest other; softmax probability, loss, entropy.
  logits = jnp.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 1.0]])
  labels = jnp.array([0, 0, 2])
  loss = steps.loss_per_example("cross_entropy", logits, labels)
  got = steps.per_example(logits, labels, loss)
  np.testing.assert_allclose(got["margin"], [1.0, -3.0, 0.0])
  # e^2 / (e^2 + e + 1) = 0.665241; 1 / (1 + e^3 + e) = 0.042010; 1/3.
  np.testing.assert_allclose(got["prob"], [0.665241, 0.042010, 1 / 3], rtol=1e-5)
  np.testing.assert_allclose(got["loss"], -np.log([0.665241, 0.042010, 1 / 3]), rtol=1e-5)
  np.testing.assert_allclose(got["entropy"][2], np.log(3), rtol=1e-6)  # Uniform.
  # EL2N (data_diet `l2_error`): softmax([0, 0]) - e_0 = [-1/2, 1/2], norm
  # 1/sqrt(2); softmax([ln 3, 0]) = [3/4, 1/4] against e_1: norm 3/4 sqrt(2).
  np.testing.assert_allclose(
      steps.el2n(jnp.array([[0.0, 0.0], [np.log(3.0), 0.0]]), jnp.array([0, 1])),
      [np.sqrt(0.5), 0.75 * np.sqrt(2)], rtol=1e-6)

  # AUM over presentations: epoch 1 skipped, as their runner does (epoch > 0).
  # Example 0: margins 5, 1, 3 -> (1 + 3) / 2 = 2; example 1 presented in
  # epochs 1 and 3 only -> 3; example 2 never after epoch 1 -> NaN.
  task = types.SimpleNamespace(num_train=3, epoch_dtype=jnp.uint8, num_classes=3,
                               config=tiny(**{"scores.names": ("aum", "data_map")}))
  # Per example (rows), per epoch (columns); NaN / -1: not presented.
  margins = np.array([[5.0, 1.0, 3.0], [7.0, np.nan, 3.0], [2.0, np.nan, np.nan]]).T
  probs = np.array([[0.2, 0.5, 0.8], [0.8, np.nan, 1.0], [0.6, np.nan, np.nan]]).T
  correct = np.array([[0, 1, 1], [1, -1, 1], [1, -1, -1]]).T
  aum_m, map_m = (next(m for m in scores.MEASURES if m.name == n) for n in ("aum", "data_map"))
  aum, dmap = aum_m.init(task), map_m.init(task)
  for e in range(3):
    ctx = types.SimpleNamespace(
        task=task, epoch=jnp.int32(e + 1), presented=jnp.array(correct[e], jnp.int8),
        scores=dict(margin=jnp.array(margins[e]), prob=jnp.array(probs[e])),
        lane=types.SimpleNamespace(labels=jnp.array([0, 1, 2])))
    aum, _ = aum_m.update(ctx, aum)
    dmap, _ = map_m.update(ctx, dmap)
  host = lambda t: jax.tree.map(lambda x: np.asarray(x)[None], t)
  rec = aum_m.record(host(aum), task)
  np.testing.assert_allclose(rec["aum"][0], [2.0, 3.0, np.nan])
  np.testing.assert_allclose(rec["margin"][0], [3.0, 3.0, 2.0])  # The last one seen.
  # Data maps (allenai/cartography): example 0's probabilities 0.2, 0.5, 0.8:
  # confidence 0.5, variability np.std = sqrt(0.06) = 0.244949; right 2 of 3
  # (cartography's correctness counts epochs: 2; here the fraction 2/3).
  # Example 1: 0.8 and 1.0: 0.9 and 0.1. Example 2: 0.6 once: std 0.
  rec = map_m.record(host(dmap), task)
  np.testing.assert_allclose(rec["confidence"][0], [0.5, 0.9, 0.6], rtol=1e-6)
  np.testing.assert_allclose(rec["variability"][0], [np.sqrt(0.06), 0.1, 0.0], rtol=1e-5,
                             atol=1e-7)
  np.testing.assert_allclose(rec["correctness"][0], [2 / 3, 1.0, 1.0], rtol=1e-6)

  # The threshold rule (their AUM_WTR: below more than 1% of the threshold
  # samples' AUMs): with threshold AUMs 0..99, 98.5 lies below one of them
  # (1%, kept) and 97.5 below two (2%, flagged).
  aum = np.concatenate([np.arange(100.0), [98.5, 97.5, np.nan]])
  thr = np.r_[np.ones(100, bool), np.zeros(3, bool)]
  flags, level = scores.flagged(aum, thr)
  assert flags[100:].tolist() == [False, True, False] and not flags[:100].any()
  assert level == pytest.approx(98.01)  # np.percentile(0..99, 99).


def test_grand_of_a_linear_model_is_its_closed_form():
  """For logits W x + b and cross-entropy, the gradient is (p - y) x^T and
  (p - y), so GraNd = ||p - y|| sqrt(||x||^2 + 1)."""
  c = tiny(model=f"{__name__}:Linear", num_seeds=1, num_epochs=1,
           **{"scores.names": ("grand",), "scores.grand_epochs": (0,),
              "scores.grand_chunk": 5})
  run = run_lib.Run.build(c)
  lane = jax.tree.map(lambda x: x[0], run.constants)
  state = jax.tree.map(lambda x: x[0], run.state.train)
  got = np.asarray(jax.jit(lambda d, l, s: scores.lane_grand(run.task, d, l, s))(
      run.data, lane, state))
  x = np.asarray(run.data.train_images, np.float64).reshape(192, -1)
  params = state.params["Dense_0"]
  logits = x @ np.asarray(params["kernel"], np.float64) + np.asarray(params["bias"])
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  error = p - np.eye(10)[np.asarray(lane.labels)]
  np.testing.assert_allclose(got, np.linalg.norm(error, axis=1)
                             * np.sqrt((x ** 2).sum(1) + 1), rtol=1e-4)
