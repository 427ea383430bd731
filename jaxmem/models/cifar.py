"""The CIFAR networks of the example-difficulty literature, as Flax Linen modules.

CIFAR ResNet-18 (plain and pre-activation) and VGG-16 with BatchNorm are the
variants of kuangliu/pytorch-cifar (models/resnet.py, preact_resnet.py,
vgg.py), the code that Toneva et al. (2019) and data_diet (Paul et al., 2021)
build on. WideResNet-28-k follows xternalz/WideResNet-pytorch
(wideresnet.py), a port of Zagoruyko & Komodakis's (2016) official code.
`scripts/torch_models.py` has a PyTorch twin of each, with the same parameter
names (modulo `.` for `_`), counts and forward pass (tests/test_cifar_models.py).

The calling convention is `jaxmem.models`': `apply(variables, x, train=...)`
on float32 NHWC images, logits out, and with `return_embeddings=True` the
flattened input, one [B, C] embedding after the stem and after every
residual block (ResNets) or every conv stage ending in a max-pool (VGG), and
the logits. Block outputs are global-average-pooled for these probes: flat,
ResNet-18's first blocks give 64 x 32 x 32 = 65,536 dims per example, which a
k-NN over the training set cannot hold (Baldock et al. 2021 probe after each
block; their pooling is our choice, not taken from their code).

BatchNorm is PyTorch's: momentum 0.1 (flax 0.9), epsilon 1e-5, running
statistics in 'batch_stats', batch statistics in training. One difference
stays: flax averages the biased batch variance into the running variance,
PyTorch the unbiased one (x n / (n - 1), n = batch x height x width), so
running variances drift apart by that factor's share; outputs in training do
not differ. Initialisation is flax's (LeCun-normal kernels, zero biases);
PyTorch's default is kaiming-uniform (a = sqrt 5) with uniform biases, and
xternalz's WRN uses kaiming-normal (fan_out): this matters for training
results, not for shapes or the forward pass.

3x3 convolutions pad 1 on each side as PyTorch does (flax's "SAME" pads a
stride-2 conv on even sizes (0, 1), which would shift every position).
"""

from collections.abc import Sequence

import flax.linen as nn
import jax

from jaxmem.models import layers


def _bn(train: bool, name: str) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                      epsilon=1e-5, name=name)


def _conv3(features: int, stride: int, name: str,
           use_bias: bool = False) -> nn.Conv:
  return nn.Conv(features, (3, 3), (stride, stride), padding=((1, 1), (1, 1)),
                 use_bias=use_bias, conv_general_dilated=layers.conv, name=name)


def _conv1(features: int, stride: int, name: str) -> nn.Conv:
  return nn.Conv(features, (1, 1), (stride, stride), padding="VALID",
                 use_bias=False, conv_general_dilated=layers.conv, name=name)


class BasicBlock(nn.Module):
  """conv-BN-ReLU-conv-BN, plus the input (1x1 conv + BN when shapes change), ReLU."""
  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = nn.relu(_bn(train, "bn1")(_conv3(self.features, self.stride, "conv1")(x)))
    y = _bn(train, "bn2")(_conv3(self.features, 1, "conv2")(y))
    if self.stride != 1 or x.shape[-1] != self.features:
      x = _bn(train, "shortcut_bn")(_conv1(self.features, self.stride, "shortcut_conv")(x))
    return nn.relu(y + x)


class PreActBlock(nn.Module):
  """He et al. (2016b): BN-ReLU-conv-BN-ReLU-conv, plus the input.

  When shapes change the shortcut is a 1x1 conv (no BN) of the block's
  pre-activated input, as in kuangliu's PreActBlock; otherwise the raw input.
  """
  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = nn.relu(_bn(train, "bn1")(x))
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.features:
      shortcut = _conv1(self.features, self.stride, "shortcut_conv")(y)
    y = _conv3(self.features, self.stride, "conv1")(y)
    y = _conv3(self.features, 1, "conv2")(nn.relu(_bn(train, "bn2")(y)))
    return y + shortcut


class CifarResNet(nn.Module):
  """The CIFAR ResNet-18 of kuangliu/pytorch-cifar: 11,173,962 parameters.

  A 3x3 stride-1 stem conv (no bias) + BN + ReLU and no max-pool, where the
  ImageNet ResNet-18 has a 7x7 stride-2 stem and a 3x3 max-pool (a 32x32
  image would be 8x8 before the first block); then stages of BasicBlocks
  with widths width x (1, 2, 4, 8) and strides (1, 2, 2, 2), a global
  average pool (kuangliu's avg_pool2d(4) on the 4x4 map) and a linear layer.

  `preact`: kuangliu's PreActResNet-18 (11,171,146 parameters): the stem is
  the bare conv, PreActBlocks, and, as there, no BN-ReLU before the pool.
  """
  num_classes: int
  preact: bool = False
  width: int = 64  # Of the stem and first stage; smaller for fast tests.
  stage_sizes: Sequence[int] = (2, 2, 2, 2)  # (3, 4, 6, 3): ResNet-34.

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               return_embeddings: bool = False) -> layers.Output:
    embeddings = [layers.flat(x)]
    x = _conv3(self.width, 1, "conv1")(x)
    if not self.preact:
      x = nn.relu(_bn(train, "bn1")(x))
    embeddings.append(layers.global_pool(x))
    block = PreActBlock if self.preact else BasicBlock
    for i, blocks in enumerate(self.stage_sizes):
      for j in range(blocks):
        stride = 2 if i > 0 and j == 0 else 1
        x = block(self.width * 2 ** i, stride, name=f"layer{i + 1}_{j}")(x, train)
        embeddings.append(layers.global_pool(x))
    logits = nn.Dense(self.num_classes, name="linear")(layers.global_pool(x))
    return layers.output(logits, embeddings, return_embeddings)


# kuangliu's cfg['VGG16']: conv widths, "M" for a 2x2 max-pool.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
         512, 512, 512, "M", 512, 512, 512, "M")


class VGG(nn.Module):
  """kuangliu's VGG-16 for 32x32 CIFAR: 14,728,266 parameters for 10 classes.

  Thirteen 3x3 convs (with bias) + BN + ReLU, a 2x2 max-pool after each of
  the five stages (32x32 -> 1x1), kuangliu's AvgPool2d(1) (the identity) and
  a single Linear(512, classes) on the flattened 1x1x512 map. Embeddings:
  one per stage, after its max-pool.
  """
  num_classes: int
  cfg: Sequence[int | str] = VGG16

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               return_embeddings: bool = False) -> layers.Output:
    embeddings = [layers.flat(x)]
    i = 0
    for v in self.cfg:
      if v == "M":
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        embeddings.append(layers.global_pool(x))
      else:
        x = _conv3(v, 1, f"convs_{i}", use_bias=True)(x)
        x = nn.relu(_bn(train, f"bns_{i}")(x))
        i += 1
    logits = nn.Dense(self.num_classes, name="classifier")(layers.flat(x))
    return layers.output(logits, embeddings, return_embeddings)


class WideBasic(nn.Module):
  """xternalz's WRN BasicBlock: BN-ReLU-conv3-BN-ReLU-dropout-conv3, plus shortcut.

  When the width changes the shortcut is a 1x1 conv of the pre-activated
  input (BN-ReLU shared with the residual branch); otherwise the raw input.
  """
  features: int
  stride: int = 1
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    o = nn.relu(_bn(train, "bn1")(x))
    shortcut = x
    if self.stride != 1 or x.shape[-1] != self.features:
      shortcut = _conv1(self.features, self.stride, "shortcut_conv")(o)
    y = nn.relu(_bn(train, "bn2")(_conv3(self.features, self.stride, "conv1")(o)))
    y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
    return _conv3(self.features, 1, "conv2")(y) + shortcut


class WideResNet(nn.Module):
  """WRN-depth-k (Zagoruyko & Komodakis 2016) as xternalz/WideResNet-pytorch.

  A 3x3 16-channel stem conv; three groups of (depth - 4) / 6 pre-activation
  wide blocks (4 for depth 28) with widths 16k, 32k, 64k and strides 1, 2, 2;
  BN-ReLU, global average pool, linear. WRN-28-10: 36,479,194 parameters,
  WRN-28-2: 1,467,610 (10 classes). Dropout (Z&K use 0.3) sits between each
  block's two convs.
  """
  num_classes: int
  widen_factor: int = 10
  depth: int = 28
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool,
               return_embeddings: bool = False) -> layers.Output:
    if (self.depth - 4) % 6:
      raise ValueError(f"WideResNet depth {self.depth}: must be 6n + 4")
    blocks = (self.depth - 4) // 6
    embeddings = [layers.flat(x)]
    x = _conv3(16, 1, "conv1")(x)
    embeddings.append(layers.global_pool(x))
    for g, width in enumerate((16, 32, 64)):
      for j in range(blocks):
        stride = 2 if g > 0 and j == 0 else 1
        x = WideBasic(width * self.widen_factor, stride, self.dropout_rate,
                      name=f"block{g + 1}_{j}")(x, train)
        embeddings.append(layers.global_pool(x))
    x = nn.relu(_bn(train, "bn1")(x))
    logits = nn.Dense(self.num_classes, name="fc")(layers.global_pool(x))
    return layers.output(logits, embeddings, return_embeddings)
