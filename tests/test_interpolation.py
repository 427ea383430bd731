"""Zhang et al.'s Theorem 1 network and the kernel min-norm interpolant."""

import numpy as np
import pytest

from jaxmem.analysis import interpolation


def _points(n=200, d=12, seed=0):
  return np.random.default_rng(seed).standard_normal((n, d))


def test_two_layer_net_has_2n_plus_d_weights_and_fits_any_real_labels():
  x = _points()
  y = np.random.default_rng(1).standard_normal(len(x))
  net = interpolation.fit_two_layer(x, y, seed=3)
  assert net.num_weights == 2 * len(x) + x.shape[1]
  np.testing.assert_allclose(interpolation.predict_two_layer(net, x)[:, 0], y,
                             atol=1e-6)


def test_two_layer_net_fits_random_one_hot_labels_exactly():
  x = _points(500, 30)
  labels = np.random.default_rng(2).integers(0, 10, len(x))
  net = interpolation.fit_two_layer(x, np.eye(10)[labels])
  out = interpolation.predict_two_layer(net, x)
  assert (out.argmax(1) == labels).all()
  np.testing.assert_allclose(out, np.eye(10)[labels], atol=1e-6)


def test_two_layer_net_rejects_duplicate_points():
  x = _points(10, 3)
  with pytest.raises(ValueError, match="duplicate"):
    interpolation.fit_two_layer(np.concatenate([x, x[:1]]), np.zeros(11))


def test_kernel_interpolant_fits_and_random_labels_need_a_larger_norm():
  rng = np.random.default_rng(0)
  centres = rng.standard_normal((3, 8)) * 4
  labels = rng.integers(0, 3, 300)
  x = centres[labels] + rng.standard_normal((300, 8))
  width = interpolation.median_bandwidth(x)
  random = rng.integers(0, 3, 300)
  fit, norms = interpolation.fit_kernel(x, np.concatenate(
      [np.eye(3)[labels], np.eye(3)[random]], axis=1), width)
  out = fit.predict(x)
  np.testing.assert_allclose(out[:, :3], np.eye(3)[labels], atol=1e-5)
  np.testing.assert_allclose(out[:, 3:], np.eye(3)[random], atol=1e-5)
  assert norms[3:].sum() > 1.5 * norms[:3].sum()
  # And the interpolant of true labels generalizes to new points of the clusters.
  test_labels = rng.integers(0, 3, 200)
  test = centres[test_labels] + rng.standard_normal((200, 8))
  assert (fit.predict(test)[:, :3].argmax(1) == test_labels).mean() > 0.9


def test_median_bandwidth_is_the_median_distance():
  x = np.array([[0.0], [1.0], [3.0]])
  assert interpolation.median_bandwidth(x) == pytest.approx(2.0)
