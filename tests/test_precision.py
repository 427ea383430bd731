"""Mixed precision (config.dtype): bfloat16 arithmetic, float32 state and files."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmem
from jaxmem import run as run_lib
from jaxmem.models import precision
from jaxmem.workdir import files
from tests.test_train import tiny


class _DenseBN(nn.Module):
  @nn.compact
  def __call__(self, x, train):
    x = nn.Dense(16)(x.reshape((x.shape[0], -1)))
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    return nn.Dense(3)(nn.relu(x))


def _setup():
  model = _DenseBN()
  x = jax.random.normal(jax.random.key(0), (8, 4, 4, 1))
  variables = model.init(jax.random.key(1), x, train=False)
  return model, x, variables


def test_bfloat16_computes_in_bfloat16_and_returns_float32():
  model, x, variables = _setup()

  def loss(params, dtype):
    logits, updates = precision.apply(model, dtype, dict(variables, params=params), x,
                                      train=True, mutable=["batch_stats"])
    return jnp.sum(logits ** 2), (logits, updates)

  outs = {d: jax.grad(loss, has_aux=True)(variables["params"], d)
          for d in ("float32", "bfloat16")}
  jaxpr = str(jax.make_jaxpr(lambda p: loss(p, "bfloat16"))(variables["params"]))
  assert "bf16" in jaxpr and "dot_general" in jaxpr
  assert "bf16" not in str(jax.make_jaxpr(lambda p: loss(p, "float32"))(variables["params"]))
  for dtype, (grads, (logits, updates)) in outs.items():
    leaves = jax.tree.leaves((grads, logits, updates))
    assert all(a.dtype == jnp.float32 for a in leaves), dtype
  (_, (l32, u32)), (_, (l16, u16)) = outs["float32"], outs["bfloat16"]
  # bfloat16 keeps 8 bits of mantissa: close to float32, and not equal to it.
  np.testing.assert_allclose(l16, l32, rtol=0.05, atol=0.05)
  assert not np.array_equal(l16, l32)
  for a, b in zip(jax.tree.leaves(u16), jax.tree.leaves(u32)):
    np.testing.assert_allclose(a, b, rtol=0.05, atol=0.02)


def test_unknown_dtype_is_refused_naming_the_choices():
  c = tiny(dtype="float16")
  with pytest.raises(Exception, match="bfloat16.*float32|float32.*bfloat16"):
    jaxmem.train(c, "/nonexistent/never_written")


def test_bfloat16_run_trains_with_float32_state(tmp_path):
  runs = {}
  for dtype in ("float32", "bfloat16"):
    runs[dtype] = tmp_path / dtype
    jaxmem.train(tiny(dtype=dtype, num_epochs=4), str(runs[dtype]))
  rows = {d: files.Workdir(p).read_metrics() for d, p in runs.items()}
  last = {d: [r for r in rs if r["epoch"] == 4] for d, rs in rows.items()}
  for a, b in zip(last["float32"], last["bfloat16"]):
    assert b["train_acc"] > 0.25  # 10 classes: well above chance.
    assert b["train_acc"] == pytest.approx(a["train_acc"], abs=0.1)
  assert [r["train_loss"] for r in rows["float32"]] != [
      r["train_loss"] for r in rows["bfloat16"]]
  restored = run_lib.Run.from_workdir(str(runs["bfloat16"]))
  assert restored.config.dtype == "bfloat16"
  state = jax.tree.leaves((restored.state.train.params, restored.state.train.opt_state))
  floats = [a for a in state if jnp.issubdtype(a.dtype, jnp.floating)]
  assert floats and all(a.dtype == jnp.float32 for a in floats)
