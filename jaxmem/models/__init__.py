"""The networks of the memorization experiments, as Flax Linen modules.

Zhang et al. (2017), "Understanding deep learning requires rethinking
generalization": the MLPs, the small AlexNet and the small Inception (with and
without BatchNorm). LeCun et al. (1989), as reproduced by Karpathy (2022,
github.com/karpathy/lecun1989-repro): the 9,760-parameter convnet. The CIFAR
ResNets, VGG-16 and WideResNets live in `jaxmem.cifar_models`; all are
registered in `MODELS`.

Every module is called as `model.apply(variables, x, train=...)` on float32
images x [B, H, W, C] and returns logits [B, num_classes]. With
`return_embeddings=True` it returns `(logits, embeddings)`, where `embeddings`
is a tuple of float32 [B, D] arrays, one per probed layer from the input to the
output (the flattened input first, the logits last), so that k-NN probes can
measure prediction depth (Baldock et al., 2021) without knowing the model.
Dropout draws from the 'dropout' rng collection; BatchNorm keeps its running
statistics in the 'batch_stats' collection.
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxmem.models import cifar
from jaxmem import errors
from jaxmem.models import layers

Output = layers.Output
_flat = layers.flat
_output = layers.output
# Re-exported: scripts and tests use them as models.conv and models.patch_conv.
conv = layers.conv
patch_conv = layers.patch_conv
PATCH_CONV_MIN_BATCH = layers.PATCH_CONV_MIN_BATCH


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
  of H1's 12 maps.
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
    per_group = self.features // len(groups)
    kernel = self.param("kernel", lecun1989_uniform,
                        (k, k, len(groups[0]), self.features))  # HWIO
    y = jnp.concatenate([
        conv(x[..., np.asarray(maps)],
             kernel[..., i * per_group:(i + 1) * per_group],
             (self.stride, self.stride), "VALID",
             dimension_numbers=("NHWC", "HWIO", "NHWC"))
        for i, maps in enumerate(groups)], axis=-1)
    return y + self.param("bias", nn.initializers.zeros, y.shape[1:])


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


def _factory(cls: type[nn.Module], **defaults) -> Callable[..., nn.Module]:
  """A `MODELS` entry: (num_classes, **overrides) -> cls with these defaults."""
  def make(num_classes: int, **overrides) -> nn.Module:
    return cls(num_classes=num_classes, **{**defaults, **overrides})
  return make


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": _factory(MLP),
    "mlp_1x512": _factory(MLP, widths=(512,)),
    "mlp_3x512": _factory(MLP, widths=(512, 512, 512)),
    "alexnet_small": _factory(AlexNetSmall),
    "inception_small": _factory(InceptionSmall, batch_norm=True),
    "inception_small_nobn": _factory(InceptionSmall, batch_norm=False),
    "lenet1989": _factory(LeNet1989),
    # Karpathy's modern.py: linear logits (for cross-entropy) with zero
    # output biases; then ReLU, for dropout (config.dropout_rate) before H3.
    "lenet1989_linear": _factory(LeNet1989, tanh_output=False, output_bias_init=0.0),
    "lenet1989_relu": _factory(LeNet1989, tanh_output=False, output_bias_init=0.0,
                               activation="relu"),
    # The CIFAR networks of Toneva, data_diet and Baldock (jaxmem.cifar_models).
    "resnet18": _factory(cifar.CifarResNet),
    "preact_resnet18": _factory(cifar.CifarResNet, preact=True),
    "vgg16": _factory(cifar.VGG),
    "wrn28": _factory(cifar.WideResNet),  # widen_factor: an override.
    "wrn28_2": _factory(cifar.WideResNet, widen_factor=2),
    "wrn28_10": _factory(cifar.WideResNet, widen_factor=10),
}

_BATCH_NORM = frozenset({"inception_small", "resnet18", "preact_resnet18",
                         "vgg16", "wrn28", "wrn28_2", "wrn28_10"})


def create(name: str, num_classes: int, **overrides) -> nn.Module:
  """Builds model `name` (a key of `MODELS`) with `num_classes` outputs.

  Raises:
    errors.UserError: `name` is not a known model.
    TypeError: an override is not a field of that model.
  """
  errors.check_choice("model", name, MODELS)
  return MODELS[name](num_classes, **overrides)


def has_batch_norm(name: str) -> bool:
  """Whether training model `name` needs `mutable=['batch_stats']`."""
  errors.check_choice("model", name, MODELS)
  return name in _BATCH_NORM
