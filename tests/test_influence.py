"""Feldman & Zhang's influence estimator against hand computations."""

import numpy as np
import pytest

from jaxmem.analysis import influence


def test_influence_and_its_standard_error_on_a_hand_made_mask_matrix():
  # 4 lanes x 2 training examples; 4 lanes x 2 test examples (correctness).
  in_subset = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], bool)
  correct = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], float)
  # Example 0 is in lanes 0, 1 (right on test 0 in both) and out of 2, 3
  # (wrong in both): influence 1 on test 0, with no spread on either side.
  # On test 1 both sides are right once in two: influence 0, and each side's
  # sample variance is 1/2, so the standard error is sqrt(1/4 + 1/4).
  got, se = influence.dense(in_subset, correct)
  np.testing.assert_allclose(got, [[1.0, 0.0], [0.0, 1.0]])
  np.testing.assert_allclose(se, [[0.0, np.sqrt(0.5)], [np.sqrt(0.5), 0.0]])
  pairs = influence.top_pairs(in_subset, correct, k=2)
  assert list(zip(pairs.train, pairs.test)) == [(0, 0), (1, 1)]
  np.testing.assert_allclose(pairs.influence, [1.0, 1.0])
  assert list(pairs.lanes_in) == [2, 2] and list(pairs.lanes_out) == [2, 2]


def test_a_side_without_lanes_has_no_estimate_and_one_lane_no_error():
  in_subset = np.array([[1, 1], [1, 0], [1, 1]], bool)  # Example 0 in every lane.
  outcome = np.array([[0.5], [2.0], [1.0]])
  got, se = influence.dense(in_subset, outcome)
  assert np.isnan(got[0, 0]) and np.isnan(se[0, 0])
  assert got[1, 0] == pytest.approx(0.75 - 2.0)  # In: lanes 0, 2; out: lane 1.
  assert np.isnan(se[1, 0])  # One lane out: no sample variance.
  pairs = influence.top_pairs(in_subset, outcome, k=5)
  assert list(pairs.train) == [1]  # The NaN pair is never chosen.


@pytest.mark.parametrize("binary", [True, False])
def test_the_estimate_is_the_two_means_over_lanes_and_streams_to_the_dense_top_k(binary):
  rng = np.random.default_rng(0)
  lanes, n, m = 12, 7, 5
  in_subset = rng.random((lanes, n)) < 0.5
  outcome = (rng.random((lanes, m)) < 0.6).astype(float) if binary else rng.normal(size=(lanes, m))
  got, se = influence.dense(in_subset, outcome)
  for i in range(n):
    inside, outside = outcome[in_subset[:, i]], outcome[~in_subset[:, i]]
    np.testing.assert_allclose(got[i], inside.mean(0) - outside.mean(0), atol=1e-12)
    np.testing.assert_allclose(
        se[i], np.sqrt(inside.var(0, ddof=1) / len(inside) + outside.var(0, ddof=1) / len(outside)),
        atol=1e-12)
  # The k largest under (influence down, train up, test up), whatever the
  # blocks: binary outcomes make many ties.
  order = sorted(((-got[i, j], i, j) for i in range(n) for j in range(m)))[:9]
  for chunks in ((1, 1), (3, 2), (100, 100)):
    pairs = influence.top_pairs(in_subset, outcome, k=9, train_chunk=chunks[0],
                                test_chunk=chunks[1])
    assert [(i, j) for _, i, j in order] == list(zip(pairs.train, pairs.test)), chunks
    np.testing.assert_allclose(pairs.se, [se[i, j] for _, i, j in order])


def test_a_hold_out_run_keeps_the_datamodels_store_and_its_estimates(tmp_path):
  """End to end on a hold-out run: the final margins and probabilities are
  the lanes' own networks' (recomputed with jaxmem.open's predict), the
  influence pairs are the estimator's on that store, and the table's
  memorization from the label's probability is Feldman & Zhang's estimate."""
  import jaxmem  # pylint: disable=g-import-not-at-top
  from jaxmem import datasets  # pylint: disable=g-import-not-at-top
  from jaxmem import errors  # pylint: disable=g-import-not-at-top
  from jaxmem.analysis import holdout  # pylint: disable=g-import-not-at-top
  from tests.test_train import tiny  # pylint: disable=g-import-not-at-top
  jaxmem.train(tiny(num_seeds=6, subset_ratio=0.5), str(tmp_path / "run"))
  results = jaxmem.open(tmp_path / "run")
  store = results.datamodels()
  assert store["in_subset"].shape == store["train_margin"].shape == (6, 192)
  assert store["test_margin"].shape == store["test_prob"].shape == (6, 64)
  np.testing.assert_array_equal(store["train_margin"] > 0, store["train_correct"])
  test = datasets.from_config(results.config).test
  for lane in (0, 5):
    logits = np.asarray(results.predict(test.images, lane=lane), np.float64)
    own = logits[np.arange(64), test.labels]
    others = np.where(np.eye(logits.shape[1], dtype=bool)[test.labels], -np.inf, logits)
    np.testing.assert_allclose(store["test_margin"][lane], own - others.max(1), atol=1e-4)
    prob = np.exp(own - logits.max(1)) / np.exp(logits - logits.max(1, keepdims=True)).sum(1)
    np.testing.assert_allclose(store["test_prob"][lane], prob, atol=1e-5)
  pairs = results.influence(k=7, outcome="margin")
  expected = influence.top_pairs(store["in_subset"], store["test_margin"], k=7)
  assert list(pairs.train) == list(store["train_index"][expected.train])
  np.testing.assert_allclose(pairs.influence, expected.influence)
  table = results.difficulty(k=3, critical_examples=0)
  by_prob = holdout.estimates(store["train_prob"], store["in_subset"])
  np.testing.assert_allclose(table["memorization_prob"], by_prob["memorization"])
  np.testing.assert_allclose(table["memorization_prob_se"], by_prob["memorization_se"])
  with pytest.raises(errors.UserError, match="valid choices: correct, margin, prob"):
    results.influence(outcome="loss")
  with pytest.raises(errors.UserError, match="valid choices: clean labels"):
    results.datamodels(group="random labels")
