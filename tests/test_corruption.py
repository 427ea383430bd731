"""Label and input corruptions: statistics, semantics and determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmem.datasets import corruption

N, C = 20000, 10


@pytest.fixture(scope="module")
def labels():
  return jnp.asarray(np.arange(N) % C, jnp.int32)


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_uniform_changes_about_p_times_9_over_10(labels, p):
  new, mask = corruption.corrupt_labels(jax.random.PRNGKey(0), labels, C, p, "uniform")
  changed = float(jnp.mean(new != labels))
  # Binomial standard error at N=20000 is below 0.0036; allow 5 of them.
  assert abs(changed - 0.9 * p) < 0.018
  np.testing.assert_array_equal(mask, new != labels)
  assert new.min() >= 0 and new.max() < C


def test_uniform_random_labels_are_uniform_over_classes(labels):
  new, _ = corruption.corrupt_labels(jax.random.PRNGKey(1), labels, C, 1.0, "uniform")
  counts = np.bincount(np.asarray(new), minlength=C)
  assert np.all(np.abs(counts / N - 0.1) < 0.01)


@pytest.mark.parametrize("p", [0.0, 0.25, 0.5, 1.0])
def test_flip_changes_exactly_p(labels, p):
  new, mask = corruption.corrupt_labels(jax.random.PRNGKey(2), labels, C, p, "flip")
  assert int(mask.sum()) == round(p * N)
  assert bool(jnp.all((new != labels) == mask))


def test_same_key_same_draw_other_key_other_draw(labels):
  a, _ = corruption.corrupt_labels(jax.random.PRNGKey(3), labels, C, 0.5, "uniform")
  b, _ = corruption.corrupt_labels(jax.random.PRNGKey(3), labels, C, 0.5, "uniform")
  c, _ = corruption.corrupt_labels(jax.random.PRNGKey(4), labels, C, 0.5, "uniform")
  np.testing.assert_array_equal(a, b)
  assert float(jnp.mean(a != c)) > 0.3


@pytest.mark.parametrize("kind", corruption.LABEL_KINDS)
def test_levels_are_nested_for_one_key(labels, kind):
  key = jax.random.PRNGKey(5)
  _, low = corruption.corrupt_labels(key, labels, C, 0.2, kind)
  _, high = corruption.corrupt_labels(key, labels, C, 0.6, kind)
  assert bool(jnp.all(high | ~low))  # Every example corrupted at 0.2 is at 0.6.


def test_vmapped_levels_match_single_calls(labels):
  keys = jax.random.split(jax.random.PRNGKey(6), 3)
  levels = jnp.asarray([0.0, 0.5, 1.0])
  batched, _ = jax.vmap(corruption.corrupt_labels, in_axes=(0, None, None, 0, None))(
      keys, labels, C, levels, "flip")
  for i in range(3):
    single, _ = corruption.corrupt_labels(keys[i], labels, C, levels[i], "flip")
    np.testing.assert_array_equal(batched[i], single)


def _images(n=6, h=4, w=5, c=3):
  return jnp.arange(n * h * w * c, dtype=jnp.float32).reshape(n, h, w, c)


def _corrupt(kind, images, index, split="train", key=0):
  zeros = jnp.zeros(images.shape[-1])
  return corruption.corrupt_inputs((kind,), jnp.int32(0), jax.random.PRNGKey(key),
                                   images, index, split, zeros, zeros + 1)


def test_shuffled_pixels_one_permutation_for_all_images_and_splits():
  x = _images()
  y = _corrupt("shuffled_pixels", x, jnp.arange(6))
  t = _corrupt("shuffled_pixels", x, jnp.arange(6) + 100, split="test")
  np.testing.assert_array_equal(y, t)  # Same permutation regardless of index or split.
  flat_x, flat_y = np.asarray(x).reshape(6, 20, 3), np.asarray(y).reshape(6, 20, 3)
  assert not np.array_equal(flat_x, flat_y)
  # A pixel's channels move together, by the same permutation in every image.
  perm = [int(np.flatnonzero(flat_x[0, :, 0] == v)[0]) for v in flat_y[0, :, 0]]
  for i in range(6):
    np.testing.assert_array_equal(flat_y[i], flat_x[i][perm])


def test_random_pixels_permutes_each_image_differently_but_fixed_per_index():
  x = jnp.broadcast_to(_images(1), (6, 4, 5, 3))  # Six copies of one image.
  y = np.asarray(_corrupt("random_pixels", x, jnp.arange(6)))
  again = np.asarray(_corrupt("random_pixels", x, jnp.arange(6)))
  np.testing.assert_array_equal(y, again)
  assert len({y[i].tobytes() for i in range(6)}) == 6
  for i in range(6):  # Each is a permutation of the image's pixels.
    np.testing.assert_array_equal(np.sort(y[i].ravel()), np.sort(np.asarray(x[0]).ravel()))
  test = np.asarray(_corrupt("random_pixels", x, jnp.arange(6), split="test"))
  assert not np.array_equal(test, y)  # Test images draw their own permutations.


def test_gaussian_matches_given_mean_and_std_and_ignores_content():
  x = jnp.zeros((512, 8, 8, 2))
  mean, std = jnp.asarray([0.5, -1.0]), jnp.asarray([2.0, 0.1])
  y = corruption.corrupt_inputs(("gaussian",), jnp.int32(0), jax.random.PRNGKey(0),
                                x, jnp.arange(512), "train", mean, std)
  np.testing.assert_allclose(np.asarray(y).mean(axis=(0, 1, 2)), mean, atol=0.02)
  np.testing.assert_allclose(np.asarray(y).std(axis=(0, 1, 2)), std, rtol=0.02)


def test_switch_between_present_kinds_selects_the_lanes_kind():
  x, index = _images(), jnp.arange(6)
  kinds = ("none", "shuffled_pixels", "gaussian")
  zeros = jnp.zeros(3)
  for code, kind in enumerate(kinds):
    got = corruption.corrupt_inputs(kinds, jnp.int32(code), jax.random.PRNGKey(0),
                                    x, index, "train", zeros, zeros + 1)
    np.testing.assert_array_equal(got, _corrupt(kind, x, index))
