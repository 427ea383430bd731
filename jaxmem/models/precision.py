"""Mixed precision: the dtype a model's forward and backward passes compute in.

`config.dtype` names it. Parameters, optimizer state, BatchNorm statistics,
losses and every record stay float32; only the model's arithmetic moves to the
compute dtype. `apply` is the one place that casts, so every model in
jaxmem.models runs in either precision without knowing of it: the float32
parameters are cast on the way in (their gradients come back float32 through
the cast), the inputs too, and the float outputs are cast back to float32
before any loss, argmax or probe sees them.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# config.dtype -> the dtype the model computes in.
DTYPES: dict[str, Any] = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def cast(tree: Any, dtype) -> Any:
  """`tree` with its floating-point leaves in `dtype` (others untouched)."""
  return jax.tree.map(
      lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def apply(model: nn.Module, dtype: str, variables: dict, x: jax.Array,
          **kwargs) -> Any:
  """`model.apply(variables, x, **kwargs)` computed in `dtype` (a DTYPES key).

  Args:
    model: any jaxmem model.
    dtype: the compute dtype's name; "float32" calls the model unchanged.
    variables: {"params": float32 pytree, "batch_stats"?: float32 pytree}.
    x: float32 [B, ...] preprocessed inputs.
    **kwargs: passed to `model.apply` (train, rngs, mutable, ...).

  Returns:
    What `model.apply` returns, every floating-point leaf float32. BatchNorm
    statistics are not cast: Flax reduces them in float32 and their updates
    come out float32.
  """
  compute = DTYPES[dtype]
  if compute == jnp.float32:
    return model.apply(variables, x, **kwargs)
  variables = dict(variables, params=cast(variables["params"], compute))
  return cast(model.apply(variables, x.astype(compute), **kwargs), jnp.float32)
