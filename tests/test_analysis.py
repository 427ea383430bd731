"""Per-example measures on constructed histories whose answers are known by hand."""

import numpy as np
import pytest

import jaxmem
from jaxmem import run as run_lib
from jaxmem.analysis import dynamics
from jaxmem.analysis import fit
from jaxmem.workdir import files
from jaxmem.workdir import history
from tests.test_train import tiny


def test_forgetting_events_counted_by_hand():
  # Rows are epochs, columns examples; -1: not presented that epoch.
  presented = np.array([
      [1, 0, 1, -1, 0],
      [0, 0, 1, -1, 1],
      [1, -1, 1, -1, -1],
      [0, 0, 1, -1, 0],
      [-1, 0, 1, -1, 1],
      [1, 0, 1, -1, 1],
  ], np.int8)
  # Example 0: 1,0,1,0,1 -> two events. Example 1: never correct -> the 6
  # epochs, as Toneva's code counts the never learned (its `npresentations`).
  # Example 2: always right -> 0. Example 3: never presented, so never learned
  # -> 6. Example 4: 0,1,0,1,1 (the -1 in epoch 3 skipped) -> one event.
  np.testing.assert_array_equal(dynamics.forgetting_events(presented), [2, 6, 0, 6, 1])
  np.testing.assert_array_equal(dynamics.unforgettable(presented),
                                [False, False, True, False, False])


def test_forgetting_works_per_lane():
  a = np.array([[1], [0], [1], [0]], np.int8)
  b = np.array([[1], [1], [1], [1]], np.int8)
  np.testing.assert_array_equal(dynamics.forgetting_events(np.stack([a, b])), [[2], [0]])


def test_first_learned_and_settled():
  correct = np.array([[0, 1, 0], [1, 1, 0], [0, 1, 0], [1, 1, 0]], bool)
  np.testing.assert_array_equal(dynamics.first_learned_epoch(correct), [2, 1, -1])
  pred = np.array([[3, 5, 1], [3, 5, 2], [4, 5, 2], [3, 5, 2]])
  # Example 0 last changed at epoch 4 (4 -> 3); example 1 never; example 2
  # changed at epoch 2 and then stayed.
  np.testing.assert_array_equal(dynamics.settled_epoch(pred), [4, 1, 2])


def test_error_rate_over_lanes():
  correct = np.zeros((4, 2, 3), bool)
  correct[:, 0, 0] = [1, 1, 1, 0]
  correct[:, 0, 1] = [1, 0, 0, 0]
  correct[:, 1, :] = 1
  np.testing.assert_allclose(dynamics.error_rate(correct, 1), [0.25, 0.75, 1.0])
  np.testing.assert_allclose(dynamics.error_rate(correct, 2), [0, 0, 0])
  with pytest.raises(ValueError):
    dynamics.error_rate(correct, 3)


def test_time_to_fit_and_slowdown():
  rows = [dict(lane=l, epoch=e, train_acc=a) for l, accs in
          {0: [0.5, 1.0, 1.0], 1: [0.2, 0.6, 1.0], 2: [0.1, 0.2, 0.3]}.items()
          for e, a in enumerate(accs, start=1)]
  fitted = fit.time_to_fit(rows, steps_per_epoch=10)
  assert fitted == {0: dict(epoch=2, step=20), 1: dict(epoch=3, step=30),
                    2: dict(epoch=None, step=None)}
  assert fit.time_to_fit(rows, threshold=0.5)[1]["epoch"] == 2
  ratio = fit.slowdown(fitted, seed={0: 0, 1: 0, 2: 0}, clean={0: True, 1: False, 2: False})
  assert ratio == {0: 1.0, 1: 1.5, 2: None}


def test_presented_correctness_is_recorded_from_the_training_pass(tmp_path):
  c = tiny(num_seeds=1, num_epochs=3, batch_size=40)  # 192 = 4 x 40 + 32 dropped.
  jaxmem.train(c, str(tmp_path))
  ex = files.Workdir(tmp_path).read_examples()
  presented = history.open_history(tmp_path / "history")["presented"].read().result()
  assert presented.shape == (1, 3, 192)
  # Each epoch presents 160 examples once and drops 32.
  np.testing.assert_array_equal((presented >= 0).sum(axis=-1), [[160, 160, 160]])
  rows = files.Workdir(tmp_path).read_metrics()
  for e in range(3):  # The running accuracy in metrics is the same pass.
    step_acc = rows[e]["step_acc"]
    assert presented[0, e][presented[0, e] >= 0].mean() == pytest.approx(step_acc)
  cfg = files.Workdir(tmp_path).read_json("config.json")
  assert cfg["lanes"][0]["resolved"]["input_corruption"] == "none"
  assert all(r["holdout_acc"] is None for r in rows)  # No subset, nothing held out.
  assert ex["in_subset"].all()


def test_holdout_estimates_on_a_design_computed_by_hand():
  from jaxmem.analysis import holdout  # pylint: disable=g-import-not-at-top
  in_subset = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [0, 0, 1]], bool)
  correct = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 1]], bool)
  est = holdout.estimates(correct, in_subset)
  # Example 0: in lanes 0,1 (1, 1); out lanes 2,3 (0, 1).
  # Example 1: in lanes 1,2 (1, 1); out lanes 0,3 (0, 0).
  # Example 2: in lanes 0,2,3 (1, 0, 1); out lane 1 (1).
  np.testing.assert_allclose(est["heldout_acc"], [0.5, 0.0, 1.0])
  np.testing.assert_allclose(est["in_acc"], [1.0, 1.0, 2 / 3])
  np.testing.assert_allclose(est["memorization"], [0.5, 1.0, -1 / 3])
  np.testing.assert_array_equal(est["heldout_lanes"], [2, 2, 1])
  # Standard error of the mean of (0, 1): std 0.7071 / sqrt(2) = 0.5.
  np.testing.assert_allclose(est["heldout_se"][:2], [0.5, 0.0])
  assert np.isnan(est["heldout_se"][2])  # One held-out lane: no error bar.
  score, se = holdout.cscore([(correct, in_subset), (correct, in_subset)])
  np.testing.assert_allclose(score, est["heldout_acc"])
  np.testing.assert_allclose(se[:2], np.asarray([0.5, 0.0]) / np.sqrt(2))


def test_lanes_train_on_their_own_equal_subsets(tmp_path):
  c = tiny(num_seeds=4, num_epochs=2, subset_ratio=0.5, batch_size=16)
  jaxmem.train(c, str(tmp_path))
  ex = files.Workdir(tmp_path).read_examples()
  member = ex["in_subset"]
  presented = history.open_history(tmp_path / "history")["presented"].read().result()
  assert member.shape == (4, 192) and np.all(member.sum(axis=1) == 96)
  assert len({m.tobytes() for m in member}) == 4  # Each lane its own subset.
  assert np.all(presented[~np.broadcast_to(member[:, None], presented.shape)] == -1)
  assert np.all((presented >= 0).sum(axis=-1) == 96)  # 6 steps x 16.
  rows = files.Workdir(tmp_path).read_metrics()
  for r in rows[-4:]:
    lane, correct = r["lane"], ex["train_correct"][r["lane"]]
    assert r["train_acc"] == pytest.approx(correct[member[lane]].mean())
    assert r["holdout_acc"] == pytest.approx(correct[~member[lane]].mean())
  # A lane's subset depends on its seed index only, not on its neighbours.
  alone = run_lib.Run.build(tiny(num_seeds=1, subset_ratio=0.5, batch_size=16)).constants
  np.testing.assert_array_equal(np.asarray(alone.subset[0]), np.flatnonzero(member[0]))


def test_cscore_skips_runs_that_never_held_an_example_out():
  from jaxmem.analysis import holdout  # pylint: disable=g-import-not-at-top
  # Run a: both lanes hold example 0 out (right, wrong); none holds example 1 out.
  run_a = (np.array([[1, 0], [0, 0]], bool), np.array([[0, 1], [0, 1]], bool))
  # Run b: two of three lanes hold both out, and get them right.
  run_b = (np.ones((3, 2), bool), np.array([[0, 0], [0, 0], [1, 1]], bool))
  score, se = holdout.cscore([run_a, run_b])
  # Example 0: (0.5 + 1.0) / 2; example 1: run b only.
  np.testing.assert_allclose(score, [0.75, 1.0])
  # Standard errors 0.5 (mean of 1, 0) and 0 combine as sqrt(0.25 + 0) / 2.
  np.testing.assert_allclose(se, [0.25, 0.0])
