"""Hold-out estimators: C-scores (Jiang et al. 2021), memorization (Feldman & Zhang 2020).

Each lane of a run trains on its own random subset of the training set
(config.subset_ratio) and is evaluated on all of it, so for every example some
lanes saw it and some did not. With `correct` [L, N] (examples.npz's
`train_correct`, correctness after the last epoch) and `in_subset` [L, N]:

  held-out accuracy  mean correctness over the lanes that did not train on it;
  C-score            held-out accuracy averaged over runs of different subset
                     ratios (Jiang et al.'s consistency score);
  memorization       accuracy when in the subset minus accuracy when held out.

Standard errors are those of means over lanes (sample std, ddof=1, over
sqrt(count)); an example with fewer than two lanes on a side has none (NaN).
"""

import numpy as np


def _mean_se(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per column mean and standard error of `values` where `mask`: [L, N] -> [N]."""
  count = mask.sum(axis=0)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean = np.where(mask, values, 0.0).sum(axis=0) / count
    sq = np.where(mask, (values - mean) ** 2, 0.0).sum(axis=0)
    se = np.sqrt(sq / (count - 1) / count)
  return (np.where(count > 0, mean, np.nan), np.where(count > 1, se, np.nan))


def estimates(correct: np.ndarray, in_subset: np.ndarray) -> dict[str, np.ndarray]:
  """Per-example held-out accuracy and memorization, with standard errors.

  Args:
    correct: bool [L, N], each lane's final correctness on each example.
    in_subset: bool [L, N], whether the lane trained on the example.

  Returns:
    float [N] arrays: heldout_acc, heldout_se, in_acc, in_se, memorization,
    memorization_se, and int [N] heldout_lanes.
  """
  correct = np.asarray(correct, np.float64)
  in_subset = np.asarray(in_subset, bool)
  held, held_se = _mean_se(correct, ~in_subset)
  inside, in_se = _mean_se(correct, in_subset)
  return dict(heldout_acc=held, heldout_se=held_se, in_acc=inside, in_se=in_se,
              memorization=inside - held,
              memorization_se=np.sqrt(held_se ** 2 + in_se ** 2),
              heldout_lanes=(~in_subset).sum(axis=0))


def cscore(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
  """C-score per example: held-out accuracy averaged over runs (subset ratios).

  Args:
    runs: (correct, in_subset) per run, each [L_r, N] over the same N examples.

  Returns:
    (score, standard error), float [N] each. A run in which no lane held an
    example out does not count for it; NaN if none did.
  """
  per_run = [estimates(c, s) for c, s in runs]
  held = np.array([r["heldout_acc"] for r in per_run])
  se2 = np.array([r["heldout_se"] ** 2 for r in per_run])
  count = np.isfinite(held).sum(axis=0)
  with np.errstate(invalid="ignore", divide="ignore"):
    score = np.where(count > 0, np.nansum(held, axis=0) / count, np.nan)
    se = np.sqrt(np.sum(np.where(np.isfinite(held), se2, 0.0), axis=0)) / count
  return score, np.where(count > 0, se, np.nan)
