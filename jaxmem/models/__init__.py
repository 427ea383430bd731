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
a name in `MODELS`: a factory `(num_classes, **options) -> nn.Module`. A model
of one's own needs no file here: `config.model = "module:Class"` names a Linen
class (or a factory) by import path, with `config.model_kwargs` its options,
or a sweep file registers it (`jaxmem.register_model`). Either way it is
checked on shapes (its logits, its embeddings if depth is asked for) before
anything compiles.
"""

import importlib

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

def register(name: str, model) -> None:
  """Adds a model under `name` (e.g. from a sweep file): a Linen class, built
  as cls(num_classes=C, **options), or a factory (num_classes, **options)."""
  is_class = isinstance(model, type) and issubclass(model, nn.Module)
  MODELS[name] = _factory(model) if is_class else model


def resolve(name: str) -> Callable[..., nn.Module]:
  """The factory for `name`: a key of MODELS, or "module:attribute".

  Raises:
    errors.UserError: an unknown name, a module that does not import, or an
      attribute that is neither a Linen Module class nor callable.
  """
  if name in MODELS:
    return MODELS[name]
  if ":" not in name:
    errors.check_choice("model", name, list(MODELS) + ["module:Class"])
  module_name, _, attribute = name.partition(":")
  try:
    found = getattr(importlib.import_module(module_name), attribute)
  except ImportError as e:
    raise errors.UserError(f"model {name}: module {module_name} does not import "
                           f"({errors.cause(e)})") from None
  except AttributeError:
    raise errors.UserError(f"model {name}: module {module_name} has no "
                           f"{attribute}") from None
  if isinstance(found, type) and issubclass(found, nn.Module):
    return _factory(found)
  if isinstance(found, type) or not callable(found):
    raise errors.UserError(f"model {name} is not a Flax Linen Module class or a "
                           "factory returning one")
  def make(num_classes: int, **options) -> nn.Module:
    model = found(num_classes=num_classes, **options)
    if not isinstance(model, nn.Module):
      raise errors.UserError(f"model {name} returned {type(model).__name__}, not "
                             "a Flax Linen Module")
    return model
  return make


def create(name: str, num_classes: int, **overrides) -> nn.Module:
  """Builds model `name` (a key of `MODELS` or "module:attribute") with
  `num_classes` outputs.

  Raises:
    errors.UserError: `name` is not a model (see `resolve`).
    TypeError: an override is not a field of that model.
  """
  return resolve(name)(num_classes, **overrides)


def from_config(config, num_classes: int) -> nn.Module:
  """The model a run's config asks for, with `num_classes` outputs: the
  built-in MLP's widths and dropout, and `config.model_kwargs`.

  Raises:
    errors.UserError: an unknown name, or options the model does not take.
  """
  options = {}
  if config.model == "mlp":
    options["widths"] = tuple(config.mlp_widths)
  if config.dropout_rate:
    options["dropout_rate"] = config.dropout_rate
  options.update({k: tuple(v) if isinstance(v, list) else v
                  for k, v in dict(config.model_kwargs).items()})
  try:
    return create(config.model, num_classes, **options)
  except TypeError as e:
    raise errors.UserError(
        f"model {config.model} does not take these options: {e}") from None


def check(name: str, model: nn.Module, image_shape: tuple[int, ...], num_classes: int,
          embeddings: bool = False) -> bool:
  """Checks the protocol on shapes alone (nothing is computed): the model
  initializes on one image of `image_shape`, returns logits [B, num_classes],
  and with `embeddings` also (logits, embeddings) with one [B, D] array per
  probed layer. Returns whether it keeps BatchNorm statistics.

  Raises:
    errors.UserError: naming what is wrong, in one line.
  """
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  x = jax.ShapeDtypeStruct((2,) + tuple(image_shape), jnp.float32)
  try:
    variables = jax.eval_shape(lambda k, x: model.init(
        {"params": k, "dropout": k}, x, train=False), key, x)
    logits = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
  except Exception as e:  # pylint: disable=broad-except
    raise errors.UserError(
        f"model {name} fails on images of shape {tuple(image_shape)}: "
        f"{type(e).__name__}: {errors.cause(e)}") from None
  if getattr(logits, "shape", None) != (2, num_classes):
    got = getattr(logits, "shape", type(logits).__name__)
    raise errors.UserError(
        f"model {name} returns {got} for 2 images; the protocol: logits "
        f"[batch, num_classes] = (2, {num_classes})")
  if embeddings:
    try:
      _, found = jax.eval_shape(lambda v, x: model.apply(
          v, x, train=False, return_embeddings=True), variables, x)
      assert all(e.ndim == 2 and e.shape[0] == 2 for e in found) and found
    except Exception:  # pylint: disable=broad-except
      raise errors.UserError(
          f"model {name} gives no embeddings (apply(..., return_embeddings=True) "
          "-> (logits, ([batch, D], ...))), which prediction depth "
          "(config.depth.k > 0) needs; set config.depth.k=0") from None
  return bool(variables.get("batch_stats"))
