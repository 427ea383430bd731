"""Zhang et al. (2017)'s networks, "Understanding deep learning requires
rethinking generalization": the MLPs, the small AlexNet and the small
Inception (with and without BatchNorm), as in their Table 1.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmem.models import layers

Output = layers.Output
_flat = layers.flat
_output = layers.output
conv = layers.conv


class MLP(nn.Module):
  """Fully connected ReLU network on the flattened image."""
  num_classes: int
  widths: Sequence[int] = (512,)
  dropout_rate: float = 0.0  # After each hidden ReLU.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               return_embeddings: bool = False) -> Output:
    x = _flat(x)
    embeddings = [x]
    for width in self.widths:
      x = nn.relu(nn.Dense(width)(x))
      embeddings.append(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return _output(nn.Dense(self.num_classes)(x), embeddings, return_embeddings)


def local_response_norm(x: jax.Array, depth_radius: int = 4, bias: float = 1.0,
                        alpha: float = 0.001 / 9.0,
                        beta: float = 0.75) -> jax.Array:
  """`tf.nn.lrn` over the last (channel) axis of x [..., C].

  Each activation is divided by (bias + alpha * sum of squares over the
  2 * depth_radius + 1 neighbouring channels) ** beta; unlike some other LRNs,
  alpha is not divided by the window size. Defaults: the TF CIFAR-10 tutorial.
  """
  window = (1,) * (x.ndim - 1) + (2 * depth_radius + 1,)
  padding = ((0, 0),) * (x.ndim - 1) + ((depth_radius, depth_radius),)
  sqr_sum = jax.lax.reduce_window(x * x, 0.0, jax.lax.add, window,
                                  (1,) * x.ndim, padding)
  return x / (bias + alpha * sqr_sum) ** beta


class AlexNetSmall(nn.Module):
  """Zhang et al.'s small AlexNet: two conv-pool-LRN modules, Dense 384, 192."""
  num_classes: int
  dropout_rate: float = 0.0  # After each hidden Dense's ReLU.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               return_embeddings: bool = False) -> Output:
    embeddings = [_flat(x)]
    for _ in range(2):
      x = nn.relu(nn.Conv(64, (5, 5), padding="SAME", conv_general_dilated=conv)(x))
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
      x = local_response_norm(x)
      embeddings.append(_flat(x))
    x = _flat(x)
    for width in (384, 192):
      x = nn.relu(nn.Dense(width)(x))
      embeddings.append(x)
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return _output(nn.Dense(self.num_classes)(x), embeddings, return_embeddings)


class _ConvBN(nn.Module):
  """Conv (SAME) -> BatchNorm with offset but no scale (TF-slim) -> ReLU.

  Without BatchNorm the conv has a bias instead, so both variants have the same
  number of parameters.
  """
  features: int
  kernel_size: int
  stride: int = 1
  batch_norm: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    k, s = self.kernel_size, self.stride
    x = nn.Conv(self.features, (k, k), (s, s), padding="SAME",
                use_bias=not self.batch_norm, conv_general_dilated=conv)(x)
    if self.batch_norm:
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                       epsilon=1e-3, use_scale=False, use_bias=True)(x)
    return nn.relu(x)


class InceptionSmall(nn.Module):
  """Zhang et al.'s small Inception (their Figure 3), for 28x28 inputs.

  Inception(c1, c3) concatenates a 1x1 and a 3x3 conv module; Downsample(c3)
  concatenates a stride-2 3x3 conv module and a stride-2 3x3 max-pool.
  """
  num_classes: int
  batch_norm: bool = True

  # (kind, c1, c3): the blocks after the 3x3, 96-channel stem.
  BLOCKS = (("inception", 32, 32), ("inception", 32, 48), ("downsample", 0, 80),
            ("inception", 112, 48), ("inception", 96, 64),
            ("inception", 80, 80), ("inception", 48, 96),
            ("downsample", 0, 96), ("inception", 176, 160),
            ("inception", 176, 160))

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               return_embeddings: bool = False) -> Output:
    conv = lambda *a, **kw: _ConvBN(*a, batch_norm=self.batch_norm, **kw)
    pool = lambda y: jnp.mean(y, axis=(1, 2))  # [B, H, W, C] -> [B, C]
    embeddings = [_flat(x)]
    x = conv(96, 3)(x, train)
    embeddings.append(pool(x))
    for kind, c1, c3 in self.BLOCKS:
      if kind == "inception":
        x = jnp.concatenate([conv(c1, 1)(x, train), conv(c3, 3)(x, train)], -1)
      else:
        x = jnp.concatenate(
            [conv(c3, 3, stride=2)(x, train),
             nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")], -1)
      embeddings.append(pool(x))
    logits = nn.Dense(self.num_classes)(pool(x))
    return _output(logits, embeddings, return_embeddings)
