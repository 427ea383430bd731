"""Label-error detection against hand-computed AUROC and average precision."""

import numpy as np
import pytest

from jaxmem.analysis import detection


def _lanes(**scores):
  # 2 lanes x 5 examples; examples 1 and 3 corrupted in both lanes (one noisy
  # data set); example 4 a threshold sample of lane 1 (outside its mask).
  corrupted = np.array([[0, 1, 0, 1, 0], [0, 1, 0, 1, 0]], bool)
  mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], bool)
  return dict(mask=mask, corrupted=corrupted,
              **{k: np.asarray(v, np.float64) for k, v in scores.items()})


def test_each_score_is_judged_per_lane_with_its_sign_and_pooled_over_lanes():
  # Loss (larger = suspect): lane 0 ranks both corrupted labels on top
  # (AUROC 1, AP 1); lane 1 ranks them last among its 4 examples: AUROC 0,
  # AP = (1/3 + 2/4) / 2. AUM (smaller = suspect) enters negated.
  found = detection.detect(_lanes(
      loss=[[0.1, 0.9, 0.2, 0.8, 0.3], [0.9, 0.1, 0.8, 0.2, 5.0]],
      aum=[[3.0, -1.0, 2.0, -2.0, 1.0], [3.0, -1.0, 0.0, 2.0, -9.0]]))
  rows = {r["score"]: r for r in found.rows}
  assert found.shared and found.lanes == 2
  assert found.rate == pytest.approx(4 / 9)  # 4 corrupted of the 9 judged.
  loss = rows["loss"]
  assert loss["auroc_mean"] == pytest.approx(0.5)
  assert loss["auroc_std"] == pytest.approx(np.std([1.0, 0.0], ddof=1))
  assert loss["ap_mean"] == pytest.approx((1.0 + (1 / 3 + 2 / 4) / 2) / 2)
  # Lane 1's AUM, negated: clean 0 -> -3, corrupted 1 -> 1, clean 2 -> 0,
  # corrupted 3 -> -2. Of the 4 (corrupted, clean) pairs, the corrupted one
  # ranks higher in 2 (1 > -3, 1 > 0) and 1 (-2 > -3): AUROC 3/4.
  assert rows["aum"]["auroc_mean"] == pytest.approx((1.0 + 0.75) / 2)
  # Pooled: the mean over the lanes that judge each example (example 4 only
  # by lane 0): loss means 0.5, 0.5, 0.5, 0.5, 0.3. Of the 6 (corrupted,
  # clean) pairs, 4 tie (a half each) and 2 win: AUROC 4/6.
  assert rows["loss"]["pooled_auroc"] == pytest.approx(4 / 6)


def test_pooling_needs_one_noisy_data_set_and_no_corruption_means_no_table():
  lanes = _lanes(loss=[[0.1, 0.9, 0.2, 0.8, 0.3], [0.9, 0.1, 0.8, 0.2, 0.0]])
  lanes["corrupted"] = np.array([[0, 1, 0, 1, 0], [1, 0, 0, 1, 0]], bool)
  found = detection.detect(lanes)
  assert not found.shared and np.isnan(found.rows[0]["pooled_auroc"])
  lanes["corrupted"][:] = False
  assert detection.detect(lanes) is None
