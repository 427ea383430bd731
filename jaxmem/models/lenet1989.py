"""LeCun et al. (1989)'s zip-code network, as Karpathy (2022) reproduced it
(github.com/karpathy/lecun1989-repro): 9,760 parameters, H1 and H2 convolutions
with one bias per output unit, H2 seeing 8 of H1's 12 maps, tanh throughout;
and the fields for Karpathy's "modern" variants.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxmem.models import layers

Output = layers.Output
_flat = layers.flat
_output = layers.output
conv = layers.conv


def lecun1989_uniform(key: jax.Array, shape: Sequence[int],
                      dtype=jnp.float32) -> jax.Array:
  """Uniform in +-2.4 / sqrt(fan_in), fan_in = prod(shape[:-1]) (HWIO or IO)."""
  bound = 2.4 / np.sqrt(np.prod(shape[:-1]))
  return jax.random.uniform(key, shape, dtype, -bound, bound)


class UnsharedBiasConv(nn.Module):
  """LeCun 1989's conv layer before its tanh, with one bias per output unit.

  Pads with a constant, convolves VALID with a stride, adds the bias. With
  `groups`, output maps are split into len(groups) equal parts, the i-th
  part seeing only the input maps groups[i]; this is how H2 connects to only 8
  of H1's 12 maps. The parameter keeps the groups' shape; the convolution is
  one, over every input map, its kernel zero where a map is not seen
  (`connected`): one convolution instead of a gather and a convolution per
  group. With convolutions as patch matmuls and 8 lanes vmapped (the CPU
  plan at batch 1) it trained 2.4x faster than per group; as XLA's
  convolutions, one at a time, 0.8x (scripts/bench_lane_forms.py).
  """
  features: int
  groups: tuple[tuple[int, ...], ...] | None = None
  kernel_size: int = 5
  stride: int = 2
  pad: int = 2
  pad_value: float = -1.0  # The background of the [-1, 1] images.

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x [B, H, W, C] -> [B, H', W', features]."""
    p, k = self.pad, self.kernel_size
    x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)),
                constant_values=self.pad_value)
    groups = self.groups or (tuple(range(x.shape[-1])),)
    kernel = self.param("kernel", lecun1989_uniform,
                        (k, k, len(groups[0]), self.features))  # HWIO
    y = conv(x, connected(kernel, groups, x.shape[-1]), (self.stride, self.stride),
             "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + self.param("bias", nn.initializers.zeros, y.shape[1:])


def connected(kernel: jax.Array, groups: tuple[tuple[int, ...], ...],
              in_maps: int) -> jax.Array:
  """[k, k, len(groups[0]), F] -> [k, k, in_maps, F]: the i-th of the
  len(groups) equal parts of the output maps takes its weights for input maps
  groups[i] and zero for the others. A product with a zero weight adds an
  exact zero, so the result differs from per-group convolutions only in the
  order of the sums (float32 rounding)."""
  per_group = kernel.shape[-1] // len(groups)
  zero = jnp.zeros(kernel.shape[:2] + (1, per_group), kernel.dtype)
  parts = []
  for i, maps in enumerate(groups):
    part = kernel[..., i * per_group:(i + 1) * per_group]
    parts.append(jnp.concatenate(
        [part[:, :, maps.index(m), None] if m in maps else zero
         for m in range(in_maps)], axis=2))
  return jnp.concatenate(parts, axis=-1)


class LeNet1989(nn.Module):
  """LeCun et al. (1989) on 16x16x1 digits in [-1, 1], as Karpathy's repro.

  H1: 12 maps 8x8; H2: 12 maps 4x4, each seeing 8 of H1's maps; H3: 30 units;
  tanh after every layer, the output included (trained with MSE to +-1).
  The fields after num_classes give Karpathy's (2022) "modern" variants.
  """
  num_classes: int
  # Karpathy starts the output biases at -1, since 9 of 10 targets are -1.
  output_bias_init: float = -1.0
  activation: str = "tanh"  # Of the hidden layers: "tanh" or "relu".
  tanh_output: bool = True  # False: linear logits, for cross-entropy.
  dropout_rate: float = 0.0  # On H2's output, before H3 (the most weights).

  H2_GROUPS = (tuple(range(0, 8)), tuple(range(4, 12)),
               (0, 1, 2, 3, 8, 9, 10, 11))

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               return_embeddings: bool = False) -> Output:
    act = {"tanh": jnp.tanh, "relu": nn.relu}[self.activation]
    embeddings = [_flat(x)]
    x = act(UnsharedBiasConv(12, name="H1")(x))
    embeddings.append(_flat(x))
    x = act(UnsharedBiasConv(12, self.H2_GROUPS, name="H2")(x))
    # Flattened (h, w, c) where PyTorch's is (c, h, w): only H3's rows permute.
    x = _flat(x)
    embeddings.append(x)
    if self.dropout_rate:
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = act(nn.Dense(30, kernel_init=lecun1989_uniform, name="H3")(x))
    embeddings.append(x)
    logits = nn.Dense(
        self.num_classes, kernel_init=lecun1989_uniform,
        bias_init=nn.initializers.constant(self.output_bias_init),
        name="out")(x)
    if self.tanh_output:
      logits = jnp.tanh(logits)
    return _output(logits, embeddings, return_embeddings)
