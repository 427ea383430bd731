"""Critical samples: the Langevin search on a boundary known by hand, and in training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmem
from jaxmem import config as config_lib
from jaxmem.measures import critical
from jaxmem.workdir import files
from tests.test_train import tiny


def _line(z):
  """Two classes split by the hyperplane sum(z) = 1."""
  s = jnp.sum(z.reshape(z.shape[0], -1), axis=-1) - 1.0
  return jnp.stack([s, -s], axis=-1)


def test_search_finds_the_boundary_only_within_the_box():
  # Four inputs in R^2; each sits at L1 distance |sum - 1| from the boundary,
  # which an L-inf box of radius r reaches iff 2r >= that distance.
  x = jnp.asarray([[0.52, 0.52], [0.6, 0.6], [0.49, 0.49], [0.2, 0.2]])
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  found = critical.langevin_search(_line, x, keys, radius=0.05, step=0.01,
                                   noise=0.0, iterations=100)
  np.testing.assert_array_equal(found, [True, False, True, False])
  # Too few steps to walk to the boundary: not found, though within the box.
  few = critical.langevin_search(_line, x, keys, radius=0.05, step=0.001,
                                 noise=0.0, iterations=5)
  np.testing.assert_array_equal(few, [False, False, False, False])
  # Noise alone cannot leave the box: a far example stays non-critical.
  noisy = critical.langevin_search(_line, x[3:], keys[3:], radius=0.05, step=0.0,
                                   noise=1.0, iterations=50)
  assert not noisy[0]


def test_an_example_search_does_not_depend_on_its_batch():
  x = jax.random.uniform(jax.random.PRNGKey(1), (6, 2), minval=0.45, maxval=0.55)
  keys = jax.random.split(jax.random.PRNGKey(2), 6)
  args = dict(radius=0.02, step=0.002, noise=0.01, iterations=20)
  together = critical.langevin_search(_line, x, keys, **args)
  alone = [critical.langevin_search(_line, x[i:i + 1], keys[i:i + 1], **args)[0]
           for i in range(6)]
  np.testing.assert_array_equal(together, alone)


def test_arpits_rule_stops_every_search_when_few_new_are_found():
  x = jnp.asarray([[0.52, 0.52], [0.6, 0.6], [0.49, 0.49], [0.2, 0.2]])
  keys = jax.random.split(jax.random.PRNGKey(0), 4)
  args = dict(radius=0.05, step=0.01, noise=0.0)
  on = critical.langevin_search(_line, x, keys, iterations=100, stop_below=3, **args)
  # No iteration finds 3 new ones here, so the rule stops after the first one:
  one_step = critical.langevin_search(_line, x, keys, iterations=1, **args)
  np.testing.assert_array_equal(on, one_step)
  # Without the rule each search goes on, and finds the far side of the box.
  off = critical.langevin_search(_line, x, keys, iterations=100, **args)
  np.testing.assert_array_equal(off, [True, False, True, False])
  assert on.sum() < off.sum()
  # Chunking the examples changes nothing.
  np.testing.assert_array_equal(
      critical.langevin_search(_line, x, keys, iterations=100, chunk=3, **args), off)


def test_sample_is_evenly_spaced_and_capped():
  np.testing.assert_array_equal(critical.sample(10, 4), [0, 3, 6, 9])
  assert len(critical.sample(5, 100)) == 5


@pytest.mark.parametrize("radius,expected", [(0.0, 0.0), (100.0, 1.0)])
def test_critical_ratio_recorded_during_training(tmp_path, radius, expected):
  c = tiny(num_epochs=3, **{"critical.every_epochs": 2, "critical.examples": 40,
                            "critical.radius": radius, "critical.step": 1.0,
                            "critical.iterations": 30, "checkpoint_every_epochs": 1})
  summary = jaxmem.train(c, str(tmp_path))
  rows = files.Workdir(tmp_path).read_metrics()
  # Training time only grows, and sums to no more than the run's (a save in
  # between must not count the time before it twice).
  elapsed = [r["elapsed_s"] for r in rows if r["lane"] == 0]
  assert elapsed == sorted(elapsed) and elapsed[-1] <= summary["train_s"]
  measured = {r["epoch"]: r["critical_ratio"] for r in rows}
  # Every 2 epochs and at the end; None in between.
  assert measured[1] is None and measured[2] is not None and measured[3] is not None
  # A box of radius 0 holds no other class; one of radius 100 around 4x4
  # Gaussian inputs holds every class the net predicts anywhere.
  for r in rows:
    if r["critical_ratio"] is not None:
      assert r["critical_ratio"] == pytest.approx(expected)
  # The last search's verdicts are in examples.npz: 40 examples searched.
  found = files.Workdir(tmp_path).read_examples()["critical"]
  assert ((found >= 0).sum(axis=1) == 40).all()
  assert found[found >= 0].mean() == pytest.approx(expected)


def test_critical_settings_are_validated():
  c = tiny(**{"critical.examples": 0})
  with pytest.raises(ValueError, match="config.critical.examples must be an integer >= 1"):
    config_lib.validate(c)
