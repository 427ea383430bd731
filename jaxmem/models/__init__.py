"""Models: Flax Linen modules by name, and the protocol a model follows.

A model is built as `cls(num_classes=C, **options)` and called as
`model.apply(variables, x, train=..., return_embeddings=False)` on float32
images x [B, H, W, C] (after preprocessing), returning logits [B, C]. With
`return_embeddings=True` it returns `(logits, embeddings)`: a tuple of float32
[B, D] arrays, one per probed layer from the flattened input to the logits,
for prediction depth (Baldock et al. 2021); a model without them cannot
measure depth. Dropout draws from the 'dropout' rng; BatchNorm keeps its
running statistics in the 'batch_stats' collection.

A file here adds a family of models (`zhang`, `lenet1989`, `cifar`; shared
pieces in `layers`, the compute dtype in `precision`) and registers each under
a name in `MODELS`: a factory `(num_classes, **options) -> nn.Module`.
"""

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmem import errors
from jaxmem.models import cifar
from jaxmem.models import lenet1989
from jaxmem.models import zhang


def _factory(cls: type[nn.Module], **defaults) -> Callable[..., nn.Module]:
  """A `MODELS` entry: (num_classes, **overrides) -> cls with these defaults."""
  def make(num_classes: int, **overrides) -> nn.Module:
    return cls(num_classes=num_classes, **{**defaults, **overrides})
  return make


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": _factory(zhang.MLP),
    "mlp_1x512": _factory(zhang.MLP, widths=(512,)),
    "mlp_3x512": _factory(zhang.MLP, widths=(512, 512, 512)),
    "alexnet_small": _factory(zhang.AlexNetSmall),
    "inception_small": _factory(zhang.InceptionSmall, batch_norm=True),
    "inception_small_nobn": _factory(zhang.InceptionSmall, batch_norm=False),
    "lenet1989": _factory(lenet1989.LeNet1989),
    # Karpathy's modern.py: linear logits (for cross-entropy) with zero
    # output biases; then ReLU, for dropout (config.dropout_rate) before H3.
    "lenet1989_linear": _factory(lenet1989.LeNet1989, tanh_output=False, output_bias_init=0.0),
    "lenet1989_relu": _factory(lenet1989.LeNet1989, tanh_output=False, output_bias_init=0.0,
                               activation="relu"),
    # The CIFAR networks of Toneva, data_diet and Baldock (jaxmem.models.cifar).
    "resnet18": _factory(cifar.CifarResNet),
    "preact_resnet18": _factory(cifar.CifarResNet, preact=True),
    "vgg16": _factory(cifar.VGG),
    "wrn28": _factory(cifar.WideResNet),  # widen_factor: an override.
    "wrn28_2": _factory(cifar.WideResNet, widen_factor=2),
    "wrn28_10": _factory(cifar.WideResNet, widen_factor=10),
}

def create(name: str, num_classes: int, **overrides) -> nn.Module:
  """Builds model `name` (a key of `MODELS`) with `num_classes` outputs.

  Raises:
    errors.UserError: `name` is not a known model.
    TypeError: an override is not a field of that model.
  """
  errors.check_choice("model", name, MODELS)
  return MODELS[name](num_classes, **overrides)


def from_config(config, num_classes: int) -> nn.Module:
  """The model a run's config asks for, with `num_classes` outputs.

  Raises:
    errors.UserError: an unknown name, or options the model does not take.
  """
  options = {}
  if config.model == "mlp":
    options["widths"] = tuple(config.mlp_widths)
  if config.dropout_rate:
    options["dropout_rate"] = config.dropout_rate
  try:
    return create(config.model, num_classes, **options)
  except TypeError as e:
    raise errors.UserError(
        f"model {config.model} does not take these options: {e}") from None


def has_batch_norm(model: nn.Module, image_shape: tuple[int, ...]) -> bool:
  """Whether `model` keeps BatchNorm statistics (a 'batch_stats' collection),
  found from its initialization's shapes alone (nothing is computed)."""
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  shapes = jax.eval_shape(lambda k: model.init(
      {"params": k, "dropout": k}, jnp.zeros((1,) + tuple(image_shape)), train=False), key)
  return bool(shapes.get("batch_stats"))
