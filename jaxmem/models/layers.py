"""Layers and helpers shared by the model modules (`models`, `cifar_models`).

The convolution every convnet passes to `nn.Conv(conv_general_dilated=conv)`,
and the embeddings contract of `return_embeddings` (see `jaxmem.models`).
"""

import jax
import jax.numpy as jnp

Output = jax.Array | tuple[jax.Array, tuple[jax.Array, ...]]


def global_pool(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, C]: the mean over the spatial axes."""
  return jnp.mean(x, axis=(1, 2))


def flat(x: jax.Array) -> jax.Array:
  """[B, ...] -> [B, D]."""
  return x.reshape(x.shape[0], -1)


def output(logits: jax.Array, embeddings: list[jax.Array],
           return_embeddings: bool) -> Output:
  """logits, or (logits, embeddings + [logits]) with `return_embeddings`."""
  if return_embeddings:
    return logits, tuple(embeddings) + (logits,)
  return logits


def _same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
  total = max((-(-size // stride) - 1) * stride + k - size, 0)
  return total // 2, total - total // 2


def patch_conv(lhs, rhs, window_strides, padding, lhs_dilation=None,
               rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
               precision=None, preferred_element_type=None) -> jax.Array:
  """A 2-D convolution as one matmul over shifted slices (im2col), NHWC x HWIO.

  Same arguments and result as `lax.conv_general_dilated` for the cases used
  here (no dilation, one feature group). Why: measured on XLA's CPU backend,
  a convolution's weight gradient inside a `lax.scan` (a whole epoch of
  steps) runs about 30 times slower than outside one, while matmuls do not
  slow down; slices and one matmul keep convnets at matmul speed there.
  """
  del dimension_numbers, precision, preferred_element_type  # NHWC, HWIO.
  if (lhs_dilation and any(d != 1 for d in lhs_dilation)) or (
      rhs_dilation and any(d != 1 for d in rhs_dilation)) or feature_group_count != 1:
    raise NotImplementedError("patch_conv: no dilation or feature groups")
  kh, kw, cin, cout = rhs.shape
  (sh, sw), (_, h, w, _) = window_strides, lhs.shape
  if isinstance(padding, str):
    padding = ([(0, 0), (0, 0)] if padding == "VALID" else
               [_same_padding(h, kh, sh), _same_padding(w, kw, sw)])
  x = jnp.pad(lhs, ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0)))
  oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
  patches = jnp.concatenate(
      [x[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
       for i in range(kh) for j in range(kw)], axis=-1)  # (i, j, c) as HWIO.
  return patches @ rhs.reshape(kh * kw * cin, cout)


def conv_form() -> str:
  """How `conv` computes convolutions on this backend: "patches"
  (`patch_conv`) on CPU, at every batch size, "xla"
  (`lax.conv_general_dilated`) elsewhere. At batch 1 XLA's CPU convolution is
  about as fast for one lane, but the plan vmaps small convolutions at small
  batch over lanes (`execution.lane_chunk`), where XLA's becomes a grouped
  convolution and patches, one batched matmul, win (scripts/bench_lane_forms.py)."""
  return "patches" if jax.default_backend() == "cpu" else "xla"


def conv(lhs, rhs, window_strides, padding, **kwargs) -> jax.Array:
  """`lax.conv_general_dilated` (NHWC, HWIO), or `patch_conv` (see `conv_form`)."""
  if conv_form() == "patches":
    return patch_conv(lhs, rhs, window_strides, padding, **kwargs)
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, **kwargs)
