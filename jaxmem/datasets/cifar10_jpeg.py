"""CIFAR-10 from its JPEG copy, with the official binary release's example ids.

The copy (`cifar10-jpeg/cifar10-jpeg-q75.tar.gz` in the data folder, see
../shared/data/README.md) holds `{train,test}/<class>/NNNN.jpg`, 5000 / 1000
per class, JPEG quality 75 (pixels differ slightly from the original).

Order of the arrays: sorted by (NNNN, class), so the classes interleave
(example 10 i + c is image i of class c) and the first N examples
(`config.train_size`) hold every class equally.

Index (`Split.index`), what is official and what is not:
- train: official. Image NNNN of class c is the (NNNN+1)-th training image
  labelled c in the official binary release (data_batch_1..5), so its official
  index is the position of the (NNNN+1)-th c in the released labels, which
  `cscores/cifar10-cscores-orig-order.npz` (Jiang et al. 2021's C-scores, in
  the official order) holds. Without that file the index is the array position
  (file order), with a warning, and `source` says so.
- test: not official. No offline file gives the official test labels, so the
  index is the array position: 10 NNNN + c for test/<class c>/NNNN.jpg, each
  class's files in file order, interleaved (the data's README documents the
  NNNN mapping for training images only).
"""

import io
import pathlib
import tarfile
import zipfile
import zlib

from absl import logging
import numpy as np

from jaxmem import errors
from jaxmem.datasets import base

TARBALL = "cifar10-jpeg/cifar10-jpeg-q75.tar.gz"
RELEASED_LABELS = "cscores/cifar10-cscores-orig-order.npz"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
           "horse", "ship", "truck")
# v2: also each image's file number NNNN (v1, "interleaved", lacked it).
_CACHE_PREFIX = "cifar10-jpeg-v2"
_READ_ERRORS = (OSError, EOFError, zlib.error, tarfile.TarError)


def decode(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Decodes the JPEGs in (NNNN, class) order: images uint8 [N, 32, 32, 3],
  labels, and `number` (each image's NNNN), per split."""
  jpegs = {}
  try:
    with tarfile.open(path) as tar:
      for member in tar:
        key = tuple(member.name.removeprefix("./").split("/"))
        if member.isfile() and len(key) == 3 and key[1] in CLASSES:
          jpegs[key] = tar.extractfile(member).read()
  except _READ_ERRORS as e:
    raise errors.UserError(f"cannot read {path}: {errors.cause(e)}") from e
  arrays = {}
  for split in ("train", "test"):
    keys = sorted((k for k in jpegs if k[0] == split),
                  key=lambda k: (k[2], CLASSES.index(k[1])))
    if not keys:
      raise errors.UserError(f"{path} has no {split}/<class>/*.jpg images")
    try:
      numbers = [int(k[2].removesuffix(".jpg")) for k in keys]
    except ValueError:
      raise errors.UserError(
          f"{path}: {split} file names must be <class>/NNNN.jpg") from None
    from PIL import Image  # pylint: disable=g-import-not-at-top  (only here: decoding)
    images = [Image.open(io.BytesIO(jpegs[k])).convert("RGB") for k in keys]
    arrays[f"{split}_images"] = np.stack([np.asarray(im) for im in images])
    arrays[f"{split}_labels"] = np.array([CLASSES.index(k[1]) for k in keys])
    arrays[f"{split}_number"] = np.array(numbers, dtype=np.int64)
  return arrays


def decoded(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Decodes the tarball once, then reads its arrays from the per-user cache."""
  return base.cached(path, _CACHE_PREFIX, lambda p: decode(p))  # pylint: disable=unnecessary-lambda  (tests patch `decode`)


def official_index(labels: np.ndarray, numbers: np.ndarray,
                   released: np.ndarray) -> np.ndarray | None:
  """Official index of image `numbers[i]` of class `labels[i]`, given the
  official order's labels `released`: where its (number+1)-th occurrence is.
  None if the image lacks one (the files and the labels disagree)."""
  index = np.empty(len(labels), np.int64)
  for c in np.unique(labels):
    positions = np.flatnonzero(released == c)
    mine = labels == c
    if numbers[mine].max() >= len(positions):
      return None
    index[mine] = positions[numbers[mine]]
  return index


def _released_labels(path: pathlib.Path) -> np.ndarray | None:
  if not path.exists():
    return None
  try:
    with np.load(path, allow_pickle=False) as npz:
      return np.asarray(npz["labels"])
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise errors.UserError(
        f"cannot read the released CIFAR-10 labels in {path}: {errors.cause(e)}"
    ) from None


def load(data_dir: pathlib.Path):
  """Reads the JPEG copy: ((images, labels, index) for train, test; source).

  Images are float32 in [0, 1]; see the module docstring for the index.
  """
  path = data_dir / TARBALL
  arrays = decoded(path)
  labels_path = data_dir / RELEASED_LABELS
  released = _released_labels(labels_path)
  labels, numbers = arrays["train_labels"], arrays["train_number"]
  index = None if released is None else official_index(labels, numbers, released)
  if index is not None and len(np.unique(index)) == len(index):
    ids = f"train ids: official order, from the labels in {labels_path}"
  else:
    why = "is missing" if released is None else "disagrees with the images"
    logging.warning(
        "cifar10: %s %s, so training ids are positions in the JPEG copy's order, "
        "not the official order", labels_path, why)
    ids = f"train ids: JPEG file order, not official ({labels_path} {why})"
    index = np.arange(len(labels), dtype=np.int64)
  splits = []
  for split, split_index in (("train", index), ("test", None)):
    images = arrays[f"{split}_images"] / np.float32(255)
    split_labels = arrays[f"{split}_labels"]
    if split_index is None:
      split_index = np.arange(len(split_labels), dtype=np.int64)
    splits.append((images, split_labels, split_index))
  source = (f"{path} (JPEG copy, quality 75; {ids}; test ids: JPEG file order, "
            "classes interleaved, not official)")
  return splits[0], splits[1], source
