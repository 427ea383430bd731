"""Preprocessing (crops, flips, standardization) and per-lane optimizers/schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmem import config as config_lib
from jaxmem import optim
from jaxmem.datasets import preprocess


def _pre(**kw):
  c = config_lib.base_config().preprocess
  c.update(kw)
  return c


def test_centre_crop_takes_the_middle():
  x = jnp.arange(32 * 32, dtype=jnp.float32).reshape(1, 32, 32, 1)
  y = preprocess.apply(_pre(crop=28), x, None)
  assert y.shape == (1, 28, 28, 1)
  np.testing.assert_array_equal(y[0, :, :, 0], x[0, 2:30, 2:30, 0])


def test_random_crop_varies_per_image_and_is_keyed():
  x = jnp.broadcast_to(jnp.arange(32 * 32, dtype=jnp.float32).reshape(1, 32, 32, 1), (64, 32, 32, 1))
  cfg = _pre(crop=28, random_crop=True)
  a = preprocess.apply(cfg, x, jax.random.PRNGKey(0))
  b = preprocess.apply(cfg, x, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(a, b)
  corners = {float(v) for v in a[:, 0, 0, 0]}
  assert len(corners) > 5  # Different offsets for different images.
  assert all(v // 32 <= 4 and v % 32 <= 4 for v in corners)  # Inside the image.
  assert np.array_equal(preprocess.apply(cfg, x, None), preprocess.apply(_pre(crop=28), x, None))


def test_flip_only_in_training_and_about_half():
  x = jnp.broadcast_to(jnp.arange(8, dtype=jnp.float32).reshape(1, 1, 8, 1), (400, 1, 8, 1))
  cfg = _pre(random_flip=True)
  y = preprocess.apply(cfg, x, jax.random.PRNGKey(1))
  flipped = np.asarray(y[:, 0, 0, 0] == 7)
  assert 0.4 < flipped.mean() < 0.6
  np.testing.assert_array_equal(y[flipped][0, 0, :, 0], np.arange(8)[::-1])
  np.testing.assert_array_equal(preprocess.apply(cfg, x, None), x)


def test_shift_rolls_each_image_by_at_most_one_pixel_only_in_training():
  x = jnp.broadcast_to(jnp.arange(64, dtype=jnp.float32).reshape(1, 8, 8, 1), (300, 8, 8, 1))
  cfg = _pre(random_shift=1)
  y = np.asarray(preprocess.apply(cfg, x, jax.random.PRNGKey(2)))
  seen = set()
  for image in y[:, :, :, 0]:
    dy, dx = divmod(int(np.argwhere(image == 0)[0][0]) * 8 + int(np.argwhere(image == 0)[0][1]), 8)
    np.testing.assert_array_equal(image, np.roll(np.arange(64).reshape(8, 8), (dy, dx), (0, 1)))
    seen.add(((dy + 1) % 8 - 1, (dx + 1) % 8 - 1))
  assert seen == {(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)}  # All nine shifts.
  np.testing.assert_array_equal(preprocess.apply(cfg, x, None), x)


def test_standardize_gives_zero_mean_unit_std_per_image():
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 6, 6, 3)) * jnp.arange(1, 5)[:, None, None, None]
  y = np.asarray(preprocess.apply(_pre(normalize="standardize"), x, None))
  np.testing.assert_allclose(y.mean(axis=(1, 2, 3)), 0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=(1, 2, 3)), 1, atol=1e-4)
  const = preprocess.standardize(jnp.ones((1, 4, 4, 1)))  # No division by zero.
  assert np.all(np.isfinite(const))


def test_minus_one_one():
  y = preprocess.apply(_pre(normalize="minus_one_one"), jnp.asarray([0.0, 0.5, 1.0]).reshape(1, 3, 1, 1), None)
  np.testing.assert_allclose(np.asarray(y).ravel(), [-1, 0, 1])


def _cfg(**kw):
  c = config_lib.base_config()
  c.update(kw)
  return c


def _lrs(config, steps_per_epoch, counts):
  f = optim.schedule_factor(config, steps_per_epoch)
  return np.asarray([float(f(jnp.int32(c))) for c in counts])


def test_schedules():
  np.testing.assert_allclose(_lrs(_cfg(schedule="exponential", decay_rate=0.95), 10, [0, 9, 10, 25]),
                             [1, 1, 0.95, 0.95 ** 2], rtol=1e-6)
  np.testing.assert_allclose(_lrs(_cfg(schedule="multistep", milestones=(2, 4), gamma=0.1), 10,
                                  [0, 19, 20, 39, 40]), [1, 1, 0.1, 0.1, 0.01], rtol=1e-5)
  one = _lrs(_cfg(schedule="onecycle", num_epochs=10), 10, [0, 30, 99])
  assert one[0] < 0.1 and one[1] > 0.9 and one[2] < 0.01
  # Karpathy's modern LeNet: 3e-4 to 1e-4 linearly over the epochs, per epoch.
  np.testing.assert_allclose(
      _lrs(_cfg(schedule="linear", num_epochs=5, final_factor=1 / 3), 10, [0, 9, 10, 25, 49]),
      [1, 1, 1 - 2 / 3 / 4, 1 - 2 / 3 / 2, 1 / 3], rtol=1e-6)


def test_sgd_step_matches_the_formula_with_traced_hparams():
  """One lane's optimizer built from vmapped hyperparameters equals SGD by hand."""
  params = {"w": jnp.asarray([1.0, -2.0])}
  grads = {"w": jnp.asarray([0.5, 0.25])}
  hp = {"learning_rate": jnp.asarray([0.1, 0.2]), "momentum": jnp.asarray([0.9, 0.0]),
        "weight_decay": jnp.asarray([0.0, 0.01])}

  def two_steps(h):
    tx = optim.make(_cfg(optimizer="sgd"), h, 10)
    state = tx.init(params)
    p = params
    for _ in range(2):
      u, state = tx.update(grads, state, p)
      p = optax.apply_updates(p, u)
    return p["w"]

  got = jax.vmap(two_steps)(hp)
  for lane in range(2):
    lr, mom, wd = (float(hp[k][lane]) for k in ("learning_rate", "momentum", "weight_decay"))
    w, v = np.asarray([1.0, -2.0]), np.zeros(2)
    for _ in range(2):
      g = np.asarray([0.5, 0.25]) + wd * w
      v = mom * v + g
      w = w - lr * v
    np.testing.assert_allclose(got[lane], w, rtol=1e-6)


def test_adamw_decays_decoupled():
  params = {"w": jnp.asarray([1.0])}
  hp = {"learning_rate": jnp.float32(0.1), "momentum": jnp.float32(0.9), "weight_decay": jnp.float32(0.5)}
  tx = optim.make(_cfg(optimizer="adamw"), hp, 1)
  u, _ = tx.update({"w": jnp.asarray([0.0])}, tx.init(params), params)
  np.testing.assert_allclose(u["w"], [-0.1 * 0.5 * 1.0], rtol=1e-5)  # Zero grad: decay only.
