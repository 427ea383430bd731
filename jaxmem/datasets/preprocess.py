"""Preprocessing and augmentation: crops, shifts, flips and normalization, pure and keyed.

Applied inside the compiled step to each batch, after input corruption, so the
data set stays resident on the device once and each lane augments with its own
key. Zhang et al. (2017) centre-crop CIFAR-10 to 28x28 (a random 28x28 crop
when augmenting) and standardize each image.
"""

import jax
import jax.numpy as jnp


NORMALIZATIONS = ("none", "minus_one_one", "standardize")


def output_shape(shape: tuple[int, int, int], crop: int) -> tuple[int, int, int]:
  """Returns the HWC shape that `apply` produces from images of `shape`."""
  h, w, c = shape
  return (crop, crop, c) if crop else (h, w, c)


def _crop(images: jax.Array, size: int, key: jax.Array | None) -> jax.Array:
  """Crops [B, H, W, C] to [B, size, size, C]: centred, or random if keyed."""
  b, h, w, c = images.shape
  if key is None:
    top, left = (h - size) // 2, (w - size) // 2
    return images[:, top:top + size, left:left + size]
  ky, kx = jax.random.split(key)
  tops = jax.random.randint(ky, (b,), 0, h - size + 1)
  lefts = jax.random.randint(kx, (b,), 0, w - size + 1)
  return jax.vmap(lambda x, t, l: jax.lax.dynamic_slice(
      x, (t, l, 0), (size, size, c)))(images, tops, lefts)


def _padded_crop(images: jax.Array, pad: int, key: jax.Array) -> jax.Array:
  """Zero-pads each side by `pad`, then crops back to the image's size at a
  random offset per image (torchvision's RandomCrop(32, padding=4), as
  kuangliu/pytorch-cifar and Toneva et al.'s code augment CIFAR)."""
  b, h, w, c = images.shape
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  ky, kx = jax.random.split(key)
  tops = jax.random.randint(ky, (b,), 0, 2 * pad + 1)
  lefts = jax.random.randint(kx, (b,), 0, 2 * pad + 1)
  return jax.vmap(lambda x, t, l: jax.lax.dynamic_slice(
      x, (t, l, 0), (h, w, c)))(padded, tops, lefts)


def _shift(images: jax.Array, most: int, key: jax.Array) -> jax.Array:
  """Rolls each image by its own (dy, dx), each in [-most, most], wrapping
  around (torch.roll, as Karpathy's modern LeNet 1989 augments)."""
  shifts = jax.random.randint(key, (images.shape[0], 2), -most, most + 1)
  return jax.vmap(lambda x, s: jnp.roll(x, (s[0], s[1]), axis=(0, 1)))(
      images, shifts)


def standardize(images: jax.Array) -> jax.Array:
  """Per-image standardization, as tf.image.per_image_standardization."""
  axes = (1, 2, 3)
  mean = images.mean(axis=axes, keepdims=True)
  std = images.std(axis=axes, keepdims=True)
  floor = 1.0 / jnp.sqrt(jnp.asarray(images[0].size, images.dtype))
  return (images - mean) / jnp.maximum(std, floor)


def apply(config, images: jax.Array, key: jax.Array | None) -> jax.Array:
  """Preprocesses a batch; augments only when `key` is given (training).

  Args:
    config: the `preprocess` ConfigDict (pad, crop, random_crop, random_flip,
      random_shift, normalize); static.
    images: float32 [B, H, W, C].
    key: the step's augmentation key, or None for evaluation.

  Returns:
    float32 [B, h, w, C] with (h, w, C) = output_shape((H, W, C), crop).
  """
  crop_key = flip_key = None
  if key is not None:
    crop_key, flip_key = jax.random.split(key)
  if crop_key is not None and config.pad:
    images = _padded_crop(images, config.pad, jax.random.fold_in(crop_key, 2))
  if config.crop:
    images = _crop(images, config.crop,
                   crop_key if config.random_crop else None)
  if crop_key is not None and config.random_shift:
    images = _shift(images, config.random_shift, jax.random.fold_in(crop_key, 1))
  if flip_key is not None and config.random_flip:
    flip = jax.random.bernoulli(flip_key, 0.5, (images.shape[0], 1, 1, 1))
    images = jnp.where(flip, images[:, :, ::-1], images)
  if config.normalize == "minus_one_one":
    images = images * 2.0 - 1.0
  elif config.normalize == "standardize":
    images = standardize(images)
  return images
