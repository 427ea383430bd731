"""Train -> test influence from hold-out runs (Feldman & Zhang 2020).

Each lane trains on its own random subset of the training set
(config.subset_ratio), so for a training example i some lanes saw it and
some did not. The influence of i on a test example j is

  infl(i, j) = P(correct on j | i in the subset) - P(correct on j | i held out),

each probability the mean over the lanes on that side (Feldman & Zhang's
estimator; their `outcome` may also be a margin or the label's probability:
any per-lane value of j). Its standard error is that of a difference of two
independent means, sqrt(s_in^2 / n_in + s_out^2 / n_out), sample variances
with ddof=1 (NaN where a side has fewer than two lanes).

The dense N x M matrix is 500M entries for CIFAR-10, so `top_pairs` streams
over blocks of training and test examples: each block is one matrix product
of the masks with the outcomes (and with their squares, for the variances),
and only the k largest influences found so far stay on the host.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Pairs:
  """The k largest influences, largest first; arrays [k]."""
  train: np.ndarray  # int64: the training example's position.
  test: np.ndarray  # int64: the test example's position.
  influence: np.ndarray  # float64
  se: np.ndarray  # float64: its standard error.
  lanes_in: np.ndarray  # int64: lanes that trained on the training example.
  lanes_out: np.ndarray  # int64: lanes that held it out.


def _block(member: np.ndarray, outcome: np.ndarray, totals: tuple[np.ndarray, np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Influence and its standard error of a block of training examples on a
  block of test examples.

  Args:
    member: float64 [L, n] (1: the lane trained on the example).
    outcome: float64 [L, m].
    totals: the sums over all lanes of `outcome` and of its square, [m] each.

  Returns:
    influence, se: [n, m]; lanes in and out: [n].
  """
  n_in = member.sum(axis=0)
  n_out = member.shape[0] - n_in
  sum_in = member.T @ outcome
  sq_in = member.T @ (outcome * outcome)
  sum_out, sq_out = totals[0][None] - sum_in, totals[1][None] - sq_in
  with np.errstate(invalid="ignore", divide="ignore"):
    mean_in, mean_out = sum_in / n_in[:, None], sum_out / n_out[:, None]
    var_in = (sq_in - n_in[:, None] * mean_in ** 2) / (n_in[:, None] - 1)
    var_out = (sq_out - n_out[:, None] * mean_out ** 2) / (n_out[:, None] - 1)
    se = np.sqrt(np.maximum(var_in, 0) / n_in[:, None] + np.maximum(var_out, 0) / n_out[:, None])
  influence = np.where((n_in > 0)[:, None] & (n_out > 0)[:, None], mean_in - mean_out, np.nan)
  se = np.where((n_in > 1)[:, None] & (n_out > 1)[:, None], se, np.nan)
  return influence, se, n_in, n_out


def dense(in_subset: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The whole matrix: (influence, se), float64 [N, M] each. Only for small
  N x M: the report and `top_pairs` never build it.

  Args:
    in_subset: bool [L, N], whether each lane trained on each training example.
    outcome: float [L, M], each lane's outcome on each test example
      (correctness as 0/1, or a margin).
  """
  outcome = np.asarray(outcome, np.float64)
  totals = (outcome.sum(axis=0), (outcome * outcome).sum(axis=0))
  influence, se, _, _ = _block(np.asarray(in_subset, np.float64), outcome, totals)
  return influence, se


def top_pairs(in_subset: np.ndarray, outcome: np.ndarray, k: int = 100,
              train_chunk: int = 4096, test_chunk: int = 4096) -> Pairs:
  """The k (train, test) pairs of largest influence, streamed in blocks.

  Memory: O(L x (train_chunk + test_chunk) + train_chunk x test_chunk + k),
  whatever N x M. Pairs whose influence is NaN (a side without lanes) are
  never chosen. Ties keep the earlier pair (training example, then test
  example), so the result does not depend on the chunk sizes.

  Args:
    in_subset: bool [L, N].
    outcome: float [L, M].
    k: how many pairs to keep.
    train_chunk, test_chunk: the block's size.
  """
  in_subset = np.asarray(in_subset, bool)
  outcome = np.asarray(outcome, np.float64)
  lanes, n = in_subset.shape
  if outcome.shape[0] != lanes:
    raise ValueError(f"in_subset has {lanes} lanes but outcome {outcome.shape[0]}")
  m = outcome.shape[1]
  totals = (outcome.sum(axis=0), (outcome * outcome).sum(axis=0))
  # The best so far: (influence, train, test, se, lanes in, lanes out) [<= k].
  best = [np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0),
          np.empty(0, np.int64), np.empty(0, np.int64)]
  for i0 in range(0, n, train_chunk):
    member = in_subset[:, i0:i0 + train_chunk].astype(np.float64)
    for j0 in range(0, m, test_chunk):
      block = outcome[:, j0:j0 + test_chunk]
      influence, se, n_in, n_out = _block(
          member, block, (totals[0][j0:j0 + test_chunk], totals[1][j0:j0 + test_chunk]))
      flat = np.where(np.isfinite(influence), influence, -np.inf).reshape(-1)
      # The block's k best under the order (influence down, train up, test
      # up): all above the k-th largest value, then its ties in row-major
      # order, which is that order within a block.
      take = min(k, flat.size)
      kth = np.partition(flat, flat.size - take)[flat.size - take]
      above = np.flatnonzero(flat > kth)
      chosen = np.concatenate([above, np.flatnonzero(flat == kth)[:take - len(above)]])
      chosen = chosen[np.isfinite(flat[chosen])]
      rows, cols = np.divmod(chosen, influence.shape[1])
      best = [np.concatenate(pair) for pair in zip(best, (
          flat[chosen], rows + i0, cols + j0, se[rows, cols], n_in[rows].astype(np.int64),
          n_out[rows].astype(np.int64)))]
      order = np.lexsort((best[2], best[1], -best[0]))[:k]
      best = [b[order] for b in best]
  return Pairs(train=best[1], test=best[2], influence=best[0], se=best[3],
               lanes_in=best[4], lanes_out=best[5])
