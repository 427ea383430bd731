"""Tests for jaxmem.models: sizes, shapes, embeddings, BatchNorm, dropout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmem import errors
from jaxmem import models
from jaxmem.models import layers
from jaxmem.models import lenet1989
from jaxmem.models import zhang

# Small inputs keep compilation fast; the 28x28 counts use eval_shape only.
SMALL_SHAPES = {
    "mlp": (8, 8, 3),
    "mlp_1x512": (8, 8, 3),
    "mlp_3x512": (8, 8, 3),
    "alexnet_small": (8, 8, 3),
    "inception_small": (8, 8, 3),
    "inception_small_nobn": (8, 8, 3),
    "lenet1989": (16, 16, 1),
    "lenet1989_linear": (16, 16, 1),
    "lenet1989_relu": (16, 16, 1),
}
NUM_EMBEDDINGS = {  # Input, hidden layers / blocks, logits.
    "mlp": 3, "mlp_1x512": 3, "mlp_3x512": 5, "alexnet_small": 6,
    "inception_small": 13, "inception_small_nobn": 13, "lenet1989": 5,
    "lenet1989_linear": 5, "lenet1989_relu": 5,
}


def _key(seed):
  # Threefry keys (the default) take seconds each to compile on CPU; the models
  # work with any key implementation.
  return jax.random.key(seed, impl="rbg")


def _images(shape, batch=2, seed=0):
  return jax.random.uniform(_key(seed), (batch,) + shape, jnp.float32, -1, 1)


def _num_params(model, shape):
  variables = jax.eval_shape(
      lambda key: model.init(key, jnp.zeros((1,) + shape), train=False),
      _key(0))
  return sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))


@pytest.mark.parametrize("name, shape, expected", [
    ("mlp_1x512", (28, 28, 3), 1_209_866),
    ("mlp_3x512", (28, 28, 3), 1_735_178),
    ("alexnet_small", (28, 28, 3), 1_387_786),
    ("inception_small", (28, 28, 3), 1_649_402),
    ("inception_small_nobn", (28, 28, 3), 1_649_402),
    ("lenet1989", (16, 16, 1), 9_760),
])
def test_parameter_counts(name, shape, expected):
  assert _num_params(models.create(name, 10), shape) == expected


def test_mlp_widths_override():
  model = models.create("mlp", 10, widths=(32, 16))
  expected = (16 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
  assert _num_params(model, (4, 4, 1)) == expected


# The CIFAR networks (jaxmem.cifar_models), tested in test_cifar_models.py.
CIFAR_MODELS = ["resnet18", "preact_resnet18", "vgg16", "wrn28", "wrn28_2", "wrn28_10"]


def test_registry_names_and_batch_norm():
  assert set(models.MODELS) == set(SMALL_SHAPES) | set(CIFAR_MODELS)
  shape = lambda name: SMALL_SHAPES.get(name, (32, 32, 3))
  with_bn = [name for name in models.MODELS
             if models.check(name, models.create(name, 10), shape(name), 10)]
  assert with_bn == ["inception_small"] + CIFAR_MODELS


def _numpy_variables(model, x, seed=0):
  """Random variables of init's shapes, drawn by numpy.

  Compiling a real init takes seconds for the Inception models (a random draw
  per kernel); the tests of the forward pass need values, not that init.
  """
  shapes = jax.eval_shape(lambda key: model.init(key, x, train=False), _key(0))
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = path[-1].key
    if name == "var":
      return jnp.ones(leaf.shape)
    if name == "mean":
      return jnp.zeros(leaf.shape)
    scale = 1.0 / np.sqrt(np.prod(leaf.shape[:-1])) if name == "kernel" else 0.1
    return jnp.asarray(rng.normal(size=leaf.shape) * scale, jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


@pytest.fixture(scope="module")
def initialized():
  """name -> (model, variables, x) for 7 classes on small inputs."""
  out = {}
  for name, shape in SMALL_SHAPES.items():
    model = models.create(name, 7)
    x = _images(shape)
    out[name] = (model, _numpy_variables(model, x), x)
  return out


@pytest.mark.parametrize("name", sorted(SMALL_SHAPES))
def test_output_shape_and_embeddings(name, initialized):
  model, variables, x = initialized[name]

  @jax.jit
  def both(variables, x):
    return (model.apply(variables, x, train=False),
            model.apply(variables, x, train=False, return_embeddings=True))

  logits, (logits2, embeddings) = both(variables, x)
  assert logits.shape == (2, 7) and logits.dtype == jnp.float32
  assert len(embeddings) == NUM_EMBEDDINGS[name]
  assert all(e.ndim == 2 and e.shape[0] == 2 for e in embeddings)
  np.testing.assert_array_equal(embeddings[0], x.reshape(2, -1))
  np.testing.assert_allclose(embeddings[-1], logits, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(logits2, logits, rtol=1e-6, atol=1e-6)


def test_batch_norm_stats_update_only_in_training(initialized):
  model, variables, x = initialized["inception_small"]
  assert "batch_stats" in variables
  assert "batch_stats" not in initialized["inception_small_nobn"][1]

  @jax.jit
  def train_and_eval(variables, x):
    return (model.apply(variables, x, train=True, mutable=["batch_stats"]),
            model.apply(variables, x, train=False, mutable=["batch_stats"]))

  (logits, updates), (_, eval_updates) = train_and_eval(variables, x)
  assert logits.shape == (2, 7)
  old = jax.tree.leaves(variables["batch_stats"])
  new = jax.tree.leaves(updates["batch_stats"])
  assert len(old) == len(new) > 0
  assert any(not np.allclose(a, b) for a, b in zip(old, new))
  for a, b in zip(old, jax.tree.leaves(eval_updates["batch_stats"])):
    np.testing.assert_array_equal(a, b)
  # BN has an offset but no scale, as in TF-slim.
  bn = variables["params"]["_ConvBN_0"]["BatchNorm_0"]
  assert set(bn) == {"bias"}


@pytest.mark.parametrize("name", ["mlp_3x512", "alexnet_small"])
def test_dropout_only_in_training(name, initialized):
  _, variables, x = initialized[name]
  model = models.create(name, 7, dropout_rate=0.5)

  def run(train, seed):
    return model.apply(variables, x, train=train,
                       rngs={"dropout": jax.random.key(seed, impl="rbg")})

  run = jax.jit(run, static_argnums=0)
  assert run(True, 1).shape == (2, 7)
  assert not np.allclose(run(True, 1), run(True, 2))
  np.testing.assert_array_equal(run(False, 1), run(False, 2))
  np.testing.assert_allclose(run(False, 1),
                             model.apply(variables, x, train=False),
                             rtol=1e-5, atol=1e-5)


def test_no_dropout_by_default_is_deterministic_in_training(initialized):
  model, variables, x = initialized["mlp_1x512"]
  np.testing.assert_array_equal(model.apply(variables, x, train=True),
                                model.apply(variables, x, train=False))


def test_lenet1989_h2_connectivity(initialized):
  params = initialized["lenet1989"][1]["params"]
  h2 = lenet1989.UnsharedBiasConv(12, lenet1989.LeNet1989.H2_GROUPS)
  h1 = _images((8, 8, 12), batch=1, seed=3)

  def changed_maps(h1_map):
    base = h2.apply({"params": params["H2"]}, h1)
    moved = h2.apply({"params": params["H2"]}, h1.at[..., h1_map].add(0.5))
    assert base.shape == (1, 4, 4, 12)
    return [m for m in range(12)
            if not np.allclose(base[..., m], moved[..., m])]

  assert changed_maps(8) == [4, 5, 6, 7, 8, 9, 10, 11]
  assert changed_maps(0) == [0, 1, 2, 3, 8, 9, 10, 11]
  assert changed_maps(5) == list(range(8))


def _karpathy_forward(params, x):
  """Karpathy's repro.py forward, in NCHW numpy, with our parameters."""
  def conv(x, w, b):  # x [C, H, W], w [O, I, 5, 5] -> [O, H', W'] + b
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)), constant_values=-1.0)
    size = (x.shape[1] - 5) // 2 + 1
    out = np.zeros((w.shape[0], size, size))
    for i in range(size):
      for j in range(size):
        patch = x[:, 2 * i:2 * i + 5, 2 * j:2 * j + 5]
        out[:, i, j] = np.einsum("ihw,oihw->o", patch, w)
    return out + b

  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  nchw_w = lambda w: w.transpose(3, 2, 0, 1)  # HWIO -> OIHW
  nchw_b = lambda b: b.transpose(2, 0, 1)  # HWC -> CHW
  x = np.tanh(conv(x.transpose(2, 0, 1), nchw_w(p["H1"]["kernel"]),
                   nchw_b(p["H1"]["bias"])))
  w2 = nchw_w(p["H2"]["kernel"])
  x = np.concatenate([conv(x[0:8], w2[0:4], 0),
                      conv(x[4:12], w2[4:8], 0),
                      conv(np.concatenate([x[0:4], x[8:12]]), w2[8:12], 0)])
  x = np.tanh(x + nchw_b(p["H2"]["bias"]))
  # PyTorch flattens (c, h, w); our H3 kernel rows are in (h, w, c) order.
  w3 = p["H3"]["kernel"].reshape(4, 4, 12, 30).transpose(2, 0, 1, 3)
  x = np.tanh(x.reshape(-1) @ w3.reshape(192, 30) + p["H3"]["bias"])
  return np.tanh(x @ p["out"]["kernel"] + p["out"]["bias"])


def test_lenet1989_matches_karpathy_forward_and_init():
  model = models.create("lenet1989", 10)
  x = _images((16, 16, 1), batch=2, seed=4)
  params = model.init(_key(2), x, train=False)["params"]
  logits = model.apply({"params": params}, x, train=False)
  for b in range(2):
    expected = _karpathy_forward(params, np.asarray(x[b]))
    np.testing.assert_allclose(logits[b], expected, rtol=1e-4, atol=1e-5)
  assert np.all(np.abs(logits) < 1.0)  # tanh on the output too.
  for layer, fan_in in (("H1", 25), ("H2", 200), ("H3", 192), ("out", 30)):
    kernel = np.asarray(params[layer]["kernel"])
    bound = 2.4 / np.sqrt(fan_in)
    assert np.abs(kernel).max() <= bound
    assert np.abs(kernel).max() > 0.9 * bound
  for layer in ("H1", "H2", "H3"):
    np.testing.assert_array_equal(params[layer]["bias"], 0.0)
  np.testing.assert_array_equal(params["out"]["bias"], -1.0)  # As repro.py.


def test_local_response_norm_matches_tf_formula():
  x = np.asarray(_images((3, 3, 12), batch=1, seed=5)) * 30
  expected = np.empty_like(x)
  for d in range(12):
    sqr_sum = np.sum(x[..., max(0, d - 4):d + 5] ** 2, axis=-1)
    expected[..., d] = x[..., d] / (1.0 + 0.001 / 9.0 * sqr_sum) ** 0.75
  np.testing.assert_allclose(zhang.local_response_norm(jnp.asarray(x)),
                             expected, rtol=1e-5)


def test_unknown_model_raises_user_error_listing_choices():
  with pytest.raises(errors.UserError) as info:
    models.create("resnet", 10)
  for name in models.MODELS:
    assert name in str(info.value)
  with pytest.raises(TypeError):
    models.create("inception_small", 10, dropout_rate=0.5)


def test_vmap_init_gives_independent_lanes():
  model = models.create("mlp", 10, widths=(16,))
  keys = jax.random.split(_key(0), 3)
  params = jax.vmap(
      lambda key: model.init(key, jnp.zeros((1, 4, 4, 1)), train=False))(keys)
  kernel = params["params"]["Dense_0"]["kernel"]
  assert kernel.shape == (3, 16, 16)
  assert not np.allclose(kernel[0], kernel[1])
  assert not np.allclose(kernel[1], kernel[2])


def test_conv_form_is_patches_on_cpu_at_every_batch():
  assert jax.default_backend() == "cpu"
  assert layers.conv_form() == "patches"
  x, k = jnp.ones((1, 8, 8, 2)), jnp.ones((3, 3, 2, 4))
  ops = str(jax.make_jaxpr(lambda x, k: layers.conv(x, k, (1, 1), "SAME"))(x, k))
  assert "dot_general" in ops and "conv_general_dilated" not in ops


def test_h2_as_one_masked_kernel_equals_a_convolution_per_group():
  groups = lenet1989.LeNet1989.H2_GROUPS
  kernel = jax.random.normal(jax.random.PRNGKey(0), (5, 5, 8, 12))
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 12, 12, 12))
  full = lenet1989.connected(kernel, groups, 12)
  assert full.shape == (5, 5, 12, 12)
  conv = lambda x, k: jax.lax.conv_general_dilated(
      x, k, (2, 2), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  want = jnp.concatenate([conv(x[..., np.asarray(maps)], kernel[..., 4 * i:4 * i + 4])
                          for i, maps in enumerate(groups)], axis=-1)
  np.testing.assert_allclose(conv(x, full), want, rtol=1e-5, atol=1e-5)
  for i, maps in enumerate(groups):  # Zero exactly where a map is not seen.
    unseen = [m for m in range(12) if m not in maps]
    assert not np.any(full[:, :, unseen, 4 * i:4 * i + 4])


@pytest.mark.parametrize("shape,kernel,stride,padding", [
    ((2, 9, 9, 3), (5, 5, 3, 4), (1, 1), "SAME"),
    ((2, 9, 8, 3), (3, 3, 3, 4), (2, 2), "SAME"),
    ((1, 20, 20, 8), (5, 5, 8, 4), (2, 2), "VALID"),
    ((2, 7, 7, 2), (3, 3, 2, 5), (1, 1), [(1, 2), (0, 1)]),
])
def test_patch_conv_equals_xla_convolution_and_its_gradients(shape, kernel, stride, padding):
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  k = jax.random.normal(jax.random.PRNGKey(1), kernel)
  ref = lambda x, k: jax.lax.conv_general_dilated(
      x, k, stride, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
  ours = lambda x, k: layers.patch_conv(x, k, stride, padding)
  np.testing.assert_allclose(ours(x, k), ref(x, k), rtol=1e-5, atol=1e-5)
  loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
  for argnum in (0, 1):
    np.testing.assert_allclose(jax.grad(loss(ours), argnum)(x, k),
                               jax.grad(loss(ref), argnum)(x, k), rtol=1e-4, atol=1e-4)
