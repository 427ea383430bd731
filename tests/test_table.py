"""The difficulty table: columns on a design known by hand, ranks, and its files."""

import numpy as np
import pandas as pd
import pytest

from jaxmem.analysis import dynamics
from jaxmem.analysis import table


def _examples():
  """Two lanes, three epochs, three examples, computed by hand below."""
  presented = np.array([[[1, 0, -1], [0, 0, -1], [1, 0, -1]],
                        [[1, 1, 0], [1, 0, 1], [1, 1, 1]]], np.int8)
  correct = np.array([[[1, 0, 1], [0, 0, 1], [1, 0, 1]],
                      [[1, 1, 0], [1, 0, 1], [1, 1, 1]]], bool)
  return dict(history_to_records(presented, correct),
              labels=np.array([[0, 0, 0], [0, 0, 1]]),
              corrupted=np.array([[0, 0, 0], [0, 0, 1]], bool),
              in_subset=np.array([[1, 1, 0], [1, 1, 1]], bool),
              diverged_epoch=np.array([-1, -1]))


def history_to_records(presented: np.ndarray, correct: np.ndarray) -> dict:
  """examples.npz's accumulator fields, from a history [L, E, N] (the
  predictions are 0 when correct, 1 when not)."""
  pred = np.where(correct, 0, 1).astype(np.int8)
  first = dynamics.first_learned_epoch(presented == 1)
  return dict(forgetting=dynamics.forgetting_events(presented),
              forgetting_events=np.where(first > 0, dynamics.forgetting_events(presented), 0),
              ever_learned=first > 0, first_learned=first,
              first_correct=dynamics.first_learned_epoch(correct),
              settled=dynamics.settled_epoch(pred),
              correct_epoch1=correct[:, 0].astype(np.int8),
              train_correct_count=correct.sum(axis=1),
              evaluations=np.full(len(correct), correct.shape[1]), train_correct=correct[:, -1],
              train_pred=pred[:, -1], epochs=np.int64(correct.shape[1]))


def test_columns_on_a_design_known_by_hand():
  runs = [table.per_lane(_examples(), depth=np.array([[0, 2, 1], [1, 2, 3]]),
                         critical=np.array([[0.0, 1.0, np.nan], [0.0, 0.0, 1.0]]))]
  cols = table.build(runs, index=np.array([10, 11, 12]), clean_labels=np.array([0, 0, 0]),
                     num_classes=2)
  np.testing.assert_array_equal(cols["lanes"], [2, 2, 1])  # Example 2: lane 1 only.
  # Example 0: lane 0 forgets once (1,0,1), lane 1 never: mean 0.5, std 0.5.
  # Example 1: lane 0 never learns it (3 presentations); lane 1 forgets once.
  # Example 2: lane 1 (0, 1, 1): learned at epoch 2, never forgotten.
  np.testing.assert_allclose(cols["forgetting_mean"], [0.5, 2.0, 0.0])
  np.testing.assert_allclose(cols["forgetting_std"], [0.5, 1.0, 0.0])
  np.testing.assert_allclose(cols["unforgettable_frac"], [0.5, 0.0, 1.0])
  # First learned: example 1 never in lane 0 -> epochs + 1 = 4; lane 1 epoch 1.
  np.testing.assert_allclose(cols["first_learned_mean"], [1.0, 2.5, 2.0])
  # First correct at an epoch's end: the same here (lane 0's example 2 is held out).
  np.testing.assert_allclose(cols["first_correct_mean"], [1.0, 2.5, 2.0])
  # Settled (predictions 0 right, 1 wrong): example 0 changes at epoch 3 in lane
  # 0, never in lane 1; example 1 never in lane 0, at 3 in lane 1; example 2 at 2.
  np.testing.assert_allclose(cols["settled_mean"], [2.0, 2.0, 2.0])
  np.testing.assert_allclose(cols["cumulative_acc_mean"], [5 / 6, 1 / 3, 2 / 3])
  np.testing.assert_allclose(cols["error_epoch1"], [0.0, 0.5, 1.0])
  np.testing.assert_allclose(cols["final_error"], [0.0, 0.5, 0.0])
  np.testing.assert_allclose(cols["depth_mean"], [0.5, 2.0, 3.0])
  np.testing.assert_allclose(cols["critical_frac"], [0.0, 0.5, 1.0])
  np.testing.assert_array_equal(cols["trained_label"], [0, 0, 0])  # Tie 0/1 -> 0.
  np.testing.assert_allclose(cols["corrupted_frac"], [0.0, 0.0, 0.5])
  assert "cscore" not in cols  # No hold-out runs given.


def test_cscore_pools_subset_runs_exactly():
  in_subset = np.array([[1, 0], [0, 1], [0, 0], [1, 1]], bool)
  correct = np.array([[1, 1], [0, 1], [1, 0], [1, 1]], bool)
  examples = dict(_examples(), in_subset=in_subset)
  # Held out: example 0 in lanes 1, 2 -> (0 + 1) / 2; example 1 in lanes 0, 2 -> (1 + 0) / 2.
  # A second run where both are always right when held out: C-score = mean of the two.
  second = np.ones_like(correct)
  cols = table.build([table.per_lane(_small(examples))], np.arange(2), np.zeros(2, int),
                     2, holdout_runs=[(correct, in_subset), (second, in_subset)])
  np.testing.assert_allclose(cols["cscore"], [0.75, 0.75])
  # In-subset accuracy 1 everywhere: memorization = 1 - held-out accuracy.
  np.testing.assert_allclose(cols["memorization"], [0.25, 0.25])
  # Coverage: both runs hold each example out in two lanes.
  np.testing.assert_array_equal(cols["cscore_runs"], [2, 2])
  np.testing.assert_array_equal(cols["heldout_lanes"], [4, 4])


def _small(examples):
  """The design above cut to four lanes and two examples."""
  out = {}
  for k, v in examples.items():
    if k == "in_subset":
      out[k] = v
    elif k == "diverged_epoch":
      out[k] = np.full(4, -1)
    elif v.ndim == 0:
      out[k] = v
    elif v.ndim == 1:
      out[k] = np.concatenate([v, v])
    else:
      out[k] = np.concatenate([v, v])[:, :2]
  return out


def test_spearman_is_pandas_with_ties_and_gaps():
  rng = np.random.default_rng(0)
  a = rng.integers(0, 5, 300).astype(float)  # Many ties.
  b = a + rng.integers(0, 3, 300)
  a[::17], b[::23] = np.nan, np.inf  # Rows either lacks are left out.
  keep = np.isfinite(a) & np.isfinite(b)
  expected = pd.Series(a[keep]).corr(pd.Series(b[keep]), method="spearman")
  assert table.spearman(a, b) == pytest.approx(expected, rel=1e-12)
  a = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
  assert table.spearman(a, a ** 3) == pytest.approx(1.0)
  assert table.spearman(a, -a) == pytest.approx(-1.0)
  assert np.isnan(table.spearman(a, np.ones(5)))  # No spread, no correlation.
  names, matrix = table.correlations(dict(forgetting_mean=a, cscore=1 - a / 10))
  # Larger C-score is easier, so it enters negated: they agree perfectly.
  assert names == ["forgetting_mean", "cscore"]
  np.testing.assert_allclose(matrix, [[1, 1], [1, 1]])


def test_written_csv_and_parquet_round_trip(tmp_path):
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  cols = table.stack({"clean labels, shuffled pixels": dict(
      index=np.array([4, 7]), cscore=np.array([0.25, np.nan]))})
  csv_path, parquet_path = table.write(cols, tmp_path)
  back = table.read_csv(csv_path)
  assert list(back["group"]) == ["clean labels, shuffled pixels"] * 2  # Quoted.
  np.testing.assert_array_equal(back["index"], [4, 7])
  assert back["cscore"][0] == 0.25 and np.isnan(back["cscore"][1])
  parquet = pq.read_table(parquet_path).to_pydict()
  assert parquet["index"] == [4, 7] and parquet["cscore"][0] == 0.25


def test_comparison_with_published_scores_joins_on_the_official_index(tmp_path):
  from jaxmem.analysis import published  # pylint: disable=g-import-not-at-top
  from jaxmem import errors  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(4), 50)  # 200 examples in "official" order.
  scores = rng.uniform(size=200) + labels  # Some classes are easier.
  np.savez(tmp_path / "published.npz", labels=labels, scores=scores)
  index = rng.permutation(200)[:120]  # The run saw 120 of them, in its own order.
  cols = dict(index=index, clean_label=labels[index],
              forgetting_mean=-scores[index] + rng.normal(0, 0.01, 120),
              cscore=labels[index] + rng.normal(0, 0.01, 120))  # The class alone.
  got = published.compare(cols, tmp_path / "published.npz")
  assert got.matched == 120 and got.label_agreement == 1.0
  assert got.spearman["forgetting_mean"] < -0.99  # A hardness: negative.
  # The control keeps the class part, not the rest: a measure that knows only
  # the class agrees as well with the shuffled scores; forgetting, which
  # follows each example, agrees less.
  assert got.shuffled["forgetting_mean"] > got.spearman["forgetting_mean"] + 0.05
  assert abs(got.shuffled["cscore"] - got.spearman["cscore"]) < 0.05
  np.savez(tmp_path / "other.npz", labels=(labels + 1) % 4, scores=scores)
  with pytest.raises(errors.UserError, match="labels agree .* 0.0%"):
    published.compare(cols, tmp_path / "other.npz")
  np.savez(tmp_path / "short.npz", labels=labels[:50], scores=scores[:50])
  with pytest.raises(errors.UserError, match="holds 50 examples"):
    published.compare(cols, tmp_path / "short.npz")
