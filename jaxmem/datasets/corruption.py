"""Label and input corruptions of Zhang et al. (2017), as pure functions of a key.

Labels are corrupted once per lane, before training. Inputs are corrupted inside
the step as a pure function of (lane key, split, example index), so every lane
sees a fixed corrupted data set while the clean data stays resident on the
device once for all lanes.
"""

import jax
import jax.numpy as jnp


LABEL_KINDS = ("uniform", "flip")
INPUT_KINDS = ("none", "shuffled_pixels", "random_pixels", "gaussian")

# Salts that separate the random streams of the train and test splits.
_SPLIT_SALT = {"train": 0, "test": 1}


def corrupt_labels(key: jax.Array, labels: jax.Array, num_classes: int,
                   level: jax.Array, kind: str) -> tuple[jax.Array, jax.Array]:
  """Corrupts labels at `level` p with the named semantics.

  `uniform` (Zhang et al. 2017): each label, with probability p, is replaced by
  a uniform draw over all classes, so the true class can come back; about
  p (1 - 1/C) of the labels change. `flip` (Toneva et al. 2019): exactly
  round(p N) labels are replaced by a different class.

  With one key, the corrupted examples at a level are a superset of those at any
  lower level, so a corruption sweep is nested.

  Args:
    key: the lane's corruption key.
    labels: int32 [N], the clean labels.
    num_classes: C.
    level: scalar p in [0, 1] (may be traced, e.g. vmapped over lanes).
    kind: one of LABEL_KINDS (static).

  Returns:
    (labels trained on, int32 [N]; mask, bool [N], True where they differ
    from the clean labels).
  """
  select_key, class_key = jax.random.split(key)
  n = labels.shape[0]
  u = jax.random.uniform(select_key, (n,))
  if kind == "uniform":
    selected = u < level
    drawn = jax.random.randint(class_key, (n,), 0, num_classes)
  elif kind == "flip":
    rank = jnp.argsort(jnp.argsort(u))
    selected = rank < jnp.round(level * n)
    shift = jax.random.randint(class_key, (n,), 1, num_classes)
    drawn = (labels + shift) % num_classes
  else:
    raise ValueError(f"unknown label corruption kind {kind!r}")
  new = jnp.where(selected, drawn, labels).astype(jnp.int32)
  return new, new != labels


def _shuffled_pixels(key, images, index, split, mean, std):
  del index, split, mean, std  # One permutation for every image of both splits.
  b, h, w, c = images.shape
  perm = jax.random.permutation(key, h * w)
  return images.reshape(b, h * w, c)[:, perm].reshape(b, h, w, c)


def _random_pixels(key, images, index, split, mean, std):
  del mean, std
  b, h, w, c = images.shape
  key = jax.random.fold_in(key, _SPLIT_SALT[split])
  perms = jax.vmap(lambda i: jax.random.permutation(
      jax.random.fold_in(key, i), h * w))(index)
  flat = images.reshape(b, h * w, c)
  return jnp.take_along_axis(flat, perms[:, :, None], axis=1).reshape(images.shape)


def _gaussian(key, images, index, split, mean, std):
  key = jax.random.fold_in(key, 2 + _SPLIT_SALT[split])
  noise = jax.vmap(lambda i: jax.random.normal(
      jax.random.fold_in(key, i), images.shape[1:], images.dtype))(index)
  return mean + std * noise


_INPUT_FNS = {
    "none": lambda key, images, *_: images,
    "shuffled_pixels": _shuffled_pixels,
    "random_pixels": _random_pixels,
    "gaussian": _gaussian,
}


def corrupt_inputs(kinds: tuple[str, ...], code: jax.Array, key: jax.Array,
                   images: jax.Array, index: jax.Array, split: str,
                   mean: jax.Array, std: jax.Array) -> jax.Array:
  """Applies a lane's input corruption to a batch of images.

  Each image's corruption depends only on (key, split, its example index), so
  an example looks the same in every epoch and in evaluation.

  Args:
    kinds: the input corruptions present among all lanes (static); only these
      are compiled.
    code: int32 scalar, this lane's corruption as a position in `kinds`.
    key: the lane's corruption key.
    images: float32 [B, H, W, C].
    index: int32 [B], the examples' positions in their split.
    split: "train" or "test".
    mean: float32 [C], the training set's per-channel mean (for `gaussian`).
    std: float32 [C], the training set's per-channel standard deviation.

  Returns:
    float32 [B, H, W, C].
  """
  branches = [
      (lambda k, x, i, m, s, f=_INPUT_FNS[kind]: f(k, x, i, split, m, s))
      for kind in kinds]
  if len(branches) == 1:
    return branches[0](key, images, index, mean, std)
  return jax.lax.switch(code, branches, key, images, index, mean, std)
