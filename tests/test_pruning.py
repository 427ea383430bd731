"""Data pruning (jaxmem.datasets.pruning): each rule keeps what it claims, from
a hand-made score file, and a lane's subset depends only on its rule, the
fraction and its seed."""

import numpy as np
import pytest

import jaxmem
from jaxmem import datasets
from jaxmem import errors
from jaxmem import run as run_lib
from jaxmem.analysis import pruning as curves_lib
from jaxmem.datasets import pruning

N = 60


def _config(tmp_path, prunes, fraction=0.25, **options):
  c = jaxmem.base_config()
  c.dataset = "synthetic"
  c.synthetic.num_train, c.synthetic.num_test = N, 8
  c.num_seeds, c.num_epochs, c.batch_size = 3, 1, 4
  c.grid.prune = prunes
  c.pruning.fraction = fraction
  c.pruning.scores = str(_score_file(tmp_path))
  c.pruning.strata = 4
  for key, value in options.items():
    target, *rest = key.split("__")
    (c[target] if rest else c).__setitem__(rest[0] if rest else target, value)
  return c


def _hand_scores():
  """Example i (official id i) has AUM 100 - i (so the hardest: the highest
  ids) and `raw` (i * 7) % 60, a permutation of 0..59."""
  ids = np.arange(N)
  return ids, 100.0 - ids, (ids * 7) % N


def _score_file(tmp_path):
  """The scores as a difficulty table, rows shuffled (the join is on ids)."""
  path = tmp_path / "scores.csv"
  if not path.exists():
    ids, aum, raw = _hand_scores()
    labels = datasets.load("synthetic", synthetic=dict(
        num_train=N, num_test=8, shape=(8, 8, 1), num_classes=10, seed=0)).train.labels
    order = np.random.default_rng(0).permutation(N)
    lines = ["group,index,clean_label,aum_mean,raw"] + [
        f"clean labels,{ids[i]},{labels[i]},{aum[i]},{raw[i]}" for i in order]
    path.write_text("\n".join(lines) + "\n")
  return path


def _subsets(config) -> dict:
  """{(rule, seed index): sorted example positions} of every lane."""
  run = run_lib.Run.build(config, initial=False)
  subsets = np.asarray(run.constants.subset)
  return {(run.lanes.prunes[run.lanes.prune_code[l]], int(run.lanes.seed_index[l])):
          subsets[l] for l in range(run.num_lanes)}


def test_each_rule_keeps_what_it_claims(tmp_path):
  ids, aum, raw = _hand_scores()
  m = 15  # round(0.25 * 60)
  got = _subsets(_config(tmp_path, ("random", "hardest:aum", "easiest:aum",
                                    "hardest:+raw", "easiest:-raw", "stratified:aum")))
  for seed in range(3):
    # AUM shrinks with difficulty: the hardest are the lowest AUM, ids 45..59.
    np.testing.assert_array_equal(got["hardest:aum", seed], np.arange(N - m, N))
    np.testing.assert_array_equal(got["easiest:aum", seed], np.arange(m))
    # `raw` with its sign written: +raw keeps the highest raw, -raw the lowest.
    np.testing.assert_array_equal(got["hardest:+raw", seed], np.sort(np.argsort(-raw)[:m]))
    np.testing.assert_array_equal(got["easiest:-raw", seed], np.sort(np.argsort(-raw)[:m]))
    for rule in ("random", "stratified:aum"):
      assert len(np.unique(got[rule, seed])) == m
    # Stratified: four strata of equal width over the hardness (i - 100),
    # 15 examples each: budgets 3, 4, 4, 4 (smallest first, equal shares of
    # what is left), drawn at random within each.
    counts = np.bincount(np.minimum((ids[got["stratified:aum", seed]]) // 15, 3),
                         minlength=4)
    np.testing.assert_array_equal(counts, [3, 4, 4, 4])
  # Random and stratified draw from the seed; hardest and easiest do not.
  assert not np.array_equal(got["random", 0], got["random", 1])
  assert not np.array_equal(got["stratified:aum", 0], got["stratified:aum", 1])
  # `random` keeps what subset_ratio's random subset of the same size keeps.
  plain = jaxmem.base_config()
  plain.dataset, plain.synthetic.num_train, plain.synthetic.num_test = "synthetic", N, 8
  plain.num_seeds, plain.subset_ratio, plain.batch_size = 3, 0.25, 4
  by_ratio = np.asarray(run_lib.Run.build(plain, initial=False).constants.subset)
  for seed in range(3):
    np.testing.assert_array_equal(got["random", seed], by_ratio[seed])


def test_stratified_budgets_and_hard_cutoff_as_zheng_et_al_allocate():
  # Strata of width 1 over [0, 3], of sizes 2, 3 and 15: budgets for 9 are 2
  # (all of it), 3 (all of it), then the 4 left.
  hardness = np.concatenate([np.zeros(2), np.ones(3), np.linspace(2.0, 3.0, 15)])
  stratum, _, budget, random = pruning.choose("stratified", hardness, 20, 9, 3, 0.0)
  assert random
  np.testing.assert_array_equal(np.bincount(stratum, minlength=3), [2, 3, 15])
  np.testing.assert_array_equal(budget, [2, 3, 4])
  # A hard cutoff of 0.25 drops the 5 hardest first (stratum -1, never kept),
  # then stratifies the rest over its own range.
  stratum, _, budget, _ = pruning.choose("stratified", hardness, 20, 9, 3, 0.25)
  assert set(np.flatnonzero(stratum < 0)) == set(np.argsort(-hardness)[:5])
  assert budget.sum() == 9


def test_a_lanes_subset_depends_only_on_its_rule_fraction_and_seed(tmp_path):
  alone = _subsets(_config(tmp_path, ("random", "hardest:aum", "stratified:aum")))
  # Other rules beside it, another order, another grid axis, other seeds.
  crowded = _subsets(_config(tmp_path, ("stratified:aum", "easiest:aum", "random"),
                             num_seeds=2, first_seed=1,
                             grid__learning_rate=(0.1, 0.01)))
  for (rule, seed), subset in crowded.items():
    if (rule, seed) in alone:
      np.testing.assert_array_equal(subset, alone[rule, seed])
  assert {("random", 1), ("random", 2), ("stratified:aum", 2)} <= set(crowded)
  # Another fraction is another subset.
  other = _subsets(_config(tmp_path, ("random",), fraction=0.5))
  assert len(other["random", 0]) == 30


def test_bad_score_files_are_refused_on_one_line(tmp_path):
  two = tmp_path / "two.csv"
  two.write_text("group,index,aum_mean\na,0,1\nb,0,2\n")
  with pytest.raises(errors.UserError, match="holds 2 groups.*valid choices: a, b"):
    pruning.read(str(two))
  assert pruning.read(str(two), "b").columns["aum_mean"].tolist() == [2.0]
  twice = pruning.ScoreFile("f", "", np.array([3, 3]), None, {})
  with pytest.raises(errors.UserError, match="id 3 appears twice"):
    pruning.join(twice, np.array([3]), np.array([0]))
  labelled = pruning.ScoreFile("f", "", np.array([0, 1]), np.array([1, 1]), {})
  with pytest.raises(errors.UserError, match="labels agree .* on 50.0%"):
    pruning.join(labelled, np.array([0, 1]), np.array([1, 0]))
  wrong_sign = pruning.Rule("hardest", "aum_mean", 1)
  with pytest.raises(errors.UserError, match="valid: hardest:aum_mean"):
    pruning.ScoreFile("f", "", np.array([0]), None, {"aum_mean": np.ones(1)}).column(wrong_sign)


def test_curves_pool_fractions_and_the_full_data(tmp_path):
  """Two pruned runs (of two fractions) and one unpruned pool into curves
  whose means and standard deviations are their lanes' (ddof 1)."""
  runs = []
  for fraction in (0.25, 0.5):
    path = tmp_path / f"keep_{fraction}"
    jaxmem.train(_config(tmp_path, ("random", "hardest:aum"), fraction=fraction),
                 str(path))
    runs.append(str(path))
  full = _config(tmp_path, (), fraction=1.0)
  jaxmem.train(full, str(tmp_path / "full"))
  rows = curves_lib.curves([str(tmp_path / "full")] + runs)
  assert [(r["rule"], r["fraction"]) for r in rows] == [
      ("none", 1.0), ("random", 0.25), ("random", 0.5), ("hardest:aum", 0.25),
      ("hardest:aum", 0.5)]
  lanes = jaxmem.open(runs[1]).lanes
  acc = lanes[lanes.prune == "hardest:aum"].test_acc.to_numpy()
  row = rows[-1]
  assert row["seeds"] == 3
  assert row["test_acc"] == pytest.approx(acc.mean())
  assert row["test_acc_std"] == pytest.approx(acc.std(ddof=1))
  assert 0 <= row["holdout_acc"] <= 1 and np.isnan(rows[0]["holdout_acc"])
  assert "| hardest:aum | " in curves_lib.markdown(rows)
