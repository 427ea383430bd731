"""Tests for jaxmem.cifar_models: sizes and forward passes equal PyTorch twins'.

The twins (scripts/torch_models.py) were checked once against kuangliu's and
xternalz's own modules (same state dicts, outputs equal to 2e-6); here the
same random weights go into a flax model and its twin.
"""

import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxmem import models
from jaxmem.models import layers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))
import torch_models  # pylint: disable=g-import-not-at-top,wrong-import-position

CIFAR = (32, 32, 3)
TWINS = {
    "resnet18": torch_models.ResNet18,
    "preact_resnet18": lambda: torch_models.ResNet18(preact=True),
    "vgg16": torch_models.VGG16,
    "wrn28_2": lambda: torch_models.WRN28(widen_factor=2),
    "wrn28_10": lambda: torch_models.WRN28(widen_factor=10),
}
# Input, stem, each block (VGG: each stage), logits: (count, widths).
EMBEDDINGS = {
    "resnet18": [3072, 64] + [64] * 2 + [128] * 2 + [256] * 2 + [512] * 2 + [10],
    "preact_resnet18": [3072, 64] + [64] * 2 + [128] * 2 + [256] * 2 + [512] * 2 + [10],
    "vgg16": [3072, 64, 128, 256, 512, 512, 10],
    "wrn28_2": [3072, 16] + [32] * 4 + [64] * 4 + [128] * 4 + [10],
    "wrn28_10": [3072, 16] + [160] * 4 + [320] * 4 + [640] * 4 + [10],
}


def _key(seed):
  return jax.random.key(seed, impl="rbg")  # Threefry compiles slowly on CPU.


def _shapes(model, x):
  return jax.eval_shape(lambda key: model.init(key, x, train=False), _key(0))


def _num_params(model):
  return sum(leaf.size for leaf in jax.tree.leaves(
      _shapes(model, jnp.zeros((1,) + CIFAR))["params"]))


@pytest.mark.parametrize("name, expected", [
    ("resnet18", 11_173_962),
    ("preact_resnet18", 11_171_146),
    ("vgg16", 14_728_266),
    ("wrn28_2", 1_467_610),
    ("wrn28_10", 36_479_194),
])
def test_parameter_counts_equal_torch_twins(name, expected):
  assert _num_params(models.create(name, 10)) == expected
  assert sum(p.numel() for p in TWINS[name]().parameters()) == expected
  assert models.check(name, models.create(name, 10), (32, 32, 3), 10)


def test_generic_variants():
  assert _num_params(models.create("wrn28", 10, widen_factor=2)) == 1_467_610
  assert _num_params(models.create("wrn28", 10)) == 36_479_194
  # stage_sizes (3, 4, 6, 3): kuangliu's ResNet34, 21,282,122 parameters.
  assert _num_params(models.create("resnet18", 10, stage_sizes=(3, 4, 6, 3))) == 21_282_122
  with pytest.raises(ValueError, match="6n"):
    _num_params(models.create("wrn28", 10, depth=27))


@pytest.mark.parametrize("name", sorted(EMBEDDINGS))
def test_embedding_shapes(name):
  model = models.create(name, 10)
  x = jnp.zeros((2,) + CIFAR)
  variables = _shapes(model, x)
  logits, embeddings = jax.eval_shape(
      lambda v: model.apply(v, x, train=False, return_embeddings=True), variables)
  assert logits.shape == (2, 10)
  assert [e.shape for e in embeddings] == [(2, d) for d in EMBEDDINGS[name]]
  assert all(e.dtype == jnp.float32 for e in embeddings)


def _random_variables(model, x, seed=0):
  """Random params and nontrivial BatchNorm statistics of init's shapes."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name, shape = path[-1].key, leaf.shape
    value = {
        "kernel": lambda: rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1])),
        "scale": lambda: 1.0 + 0.2 * rng.normal(size=shape),
        "var": lambda: rng.uniform(0.5, 1.5, size=shape),
    }.get(name, lambda: 0.2 * rng.normal(size=shape))()  # bias, mean
    return jnp.asarray(value, jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, _shapes(model, x))


def _close(ours, theirs, what):
  ours, theirs = np.asarray(ours), theirs.detach().numpy()
  scale = np.abs(theirs).max()
  np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * scale, err_msg=what)


@pytest.mark.parametrize("name", ["resnet18", "preact_resnet18", "vgg16", "wrn28_2"])
def test_same_weights_same_outputs_as_torch_twin(name, monkeypatch):
  # XLA's convolution, faster to compile than CPU's patches (test_models
  # checks patch_conv against it).
  monkeypatch.setattr(layers, "conv_form", lambda: "xla")
  model = models.create(name, 10)
  batch = 3
  x = np.random.default_rng(1).normal(size=(batch,) + CIFAR).astype(np.float32)
  variables = _random_variables(model, x)
  twin = torch_models.load_flax(TWINS[name](), variables)

  @jax.jit
  def run(variables, x):
    evaluated = model.apply(variables, x, train=False, return_embeddings=True)
    return evaluated, model.apply(variables, x, train=True, mutable=["batch_stats"])

  (logits, embeddings), (train_logits, updates) = run(variables, x)
  x_torch = torch.from_numpy(x.transpose(0, 3, 1, 2))  # NHWC -> NCHW.
  twin.eval()
  with torch.no_grad():
    _close(logits, twin(x_torch), "eval")
  np.testing.assert_array_equal(embeddings[0], x.reshape(batch, -1))
  np.testing.assert_allclose(embeddings[-1], logits, rtol=1e-6)
  if name != "wrn28_2":  # The logits are linear in the last block's pool.
    head = variables["params"]["linear" if "resnet" in name else "classifier"]
    np.testing.assert_allclose(embeddings[-2] @ head["kernel"] + head["bias"],
                               logits, rtol=1e-4, atol=1e-4)

  # Training: batch statistics; the running ones move the same way, except
  # that torch averages in the unbiased variance (x n / (n - 1)).
  sizes = {}
  for module_name, m in twin.named_modules():
    if isinstance(m, torch.nn.BatchNorm2d):
      m.register_forward_pre_hook(
          lambda m, args, k=module_name: sizes.__setitem__(k, args[0].numel() // args[0].shape[1]))
  twin.train()
  with torch.no_grad():
    _close(train_logits, twin(x_torch), "train")
  old, new = variables["batch_stats"], updates["batch_stats"]
  for module_name, m in twin.named_modules():
    if isinstance(m, torch.nn.BatchNorm2d):
      path = torch_models.flax_path(module_name)
      get = lambda tree, leaf: np.asarray(_at(tree, path)[leaf])
      n = sizes[module_name]
      _close(get(new, "mean"), m.running_mean, f"{module_name} mean")
      var = 0.9 * get(old, "var") + (get(new, "var") - 0.9 * get(old, "var")) * n / (n - 1)
      _close(var, m.running_var, f"{module_name} var")


def _at(tree, path):
  for key in path:
    tree = tree[key]
  return tree


def test_batch_norm_statistics_per_lane():
  """Two vmapped lanes keep their own running statistics; lane 0 as if alone.

  A 4-wide ResNet with one block per stage (shortcuts included) keeps the
  compile short; 16x16 inputs leave 2x2 maps and 8 values per BatchNorm
  statistic in the last stage (with 1x1 maps, 2 values make the variance
  ill-conditioned and lanes differ by float rounding).
  """
  model = models.create("resnet18", 10, width=4, stage_sizes=(1, 1, 1, 1))
  x = jax.random.normal(_key(1), (2, 2, 16, 16, 3))  # [lane, batch, H, W, C]
  keys = jax.random.split(_key(0), 2)
  init = lambda key: model.init(key, x[0], train=False)

  def train_apply(variables, x):
    return model.apply(variables, x, train=True, mutable=["batch_stats"])

  variables = jax.jit(jax.vmap(init))(keys)
  logits, updates = jax.jit(jax.vmap(train_apply))(variables, x)
  assert logits.shape == (2, 2, 10)
  stats = jax.tree.leaves(updates["batch_stats"])
  assert len(stats) == 2 * (1 + 4 * 2 + 3)  # Mean, var: stem, blocks, shortcuts.
  assert all(not np.allclose(s[0], s[1]) for s in stats)
  lane0 = jax.tree.map(lambda v: v[0], variables)
  alone_logits, alone = jax.jit(train_apply)(lane0, x[0])
  np.testing.assert_allclose(logits[0], alone_logits, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree.leaves(alone["batch_stats"]), stats):
    np.testing.assert_allclose(a, b[0], rtol=1e-5, atol=1e-6)
