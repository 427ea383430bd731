"""The types every data set loader returns, and what they share.

A loader gives a `Dataset`: its splits as float32 NHWC images in [0, 1] (the
synthetic set: standard normal), int32 labels, and each example's id in its
official order, with a `source` string that says where the data came from.
"""

import dataclasses
import hashlib
import os
import pathlib
from typing import Callable
import zipfile

from absl import logging
import numpy as np


@dataclasses.dataclass(frozen=True)
class Split:
  """One split of a data set.

  Attributes:
    images: float32 [N, H, W, C] in [0, 1] (standard normal for `synthetic`).
    labels: int32 [N] in [0, num_classes).
    index: int64 [N], each example's index in its data set's official order
      where one is known (the loaders and `Dataset.source` say), else its
      position in the source, so that per-example results can be traced back
      across runs, subsets and published scores. The arrays' own order (which
      `train_size` cuts) need not follow it.
  """
  images: np.ndarray
  labels: np.ndarray
  index: np.ndarray


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A data set: its splits, its number of classes and where it came from.

  `full_sizes` is (train, test) before `load` kept only some examples.
  """
  name: str
  train: Split
  test: Split
  num_classes: int
  source: str
  full_sizes: tuple[int, int] | None = None


def describe(dataset: Dataset) -> str:
  """The one line a run logs about its data: which examples, from where."""
  sizes = (len(dataset.train.labels), len(dataset.test.labels))
  full = dataset.full_sizes or sizes
  train, test = (f"{n}" if n == total else f"{n} of {total}"
                 for n, total in zip(sizes, full))
  return f"{dataset.name}: {train} train / {test} test examples from {dataset.source}"


def make_split(images: np.ndarray, labels: np.ndarray,
               index: np.ndarray | None = None) -> Split:
  """A split of `images` [N, H, W, C] in the contract's dtypes; `index`
  defaults to 0..N-1 (the example's position in its source)."""
  if index is None:
    index = np.arange(len(labels), dtype=np.int64)
  return Split(images.astype(np.float32, copy=False), labels.astype(np.int32),
               index.astype(np.int64, copy=False))


def one_line(error: Exception) -> str:
  """The error's message on one line, for `errors.UserError`."""
  return " ".join(str(error).split())


def resolve_data_dir(flag_value: str | None) -> pathlib.Path:
  """The data folder: the flag, else $JAXMEM_DATA_DIR, else ~/.cache/jaxmem."""
  value = flag_value or os.environ.get("JAXMEM_DATA_DIR") or "~/.cache/jaxmem"
  return pathlib.Path(value).expanduser().absolute()


def cached(path: pathlib.Path, decoder: str,
           decode: Callable[[pathlib.Path], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """`decode(path)`'s arrays, kept on disk under the file's SHA-256 and
  `decoder` (a name with a version), so that a repeated run reads arrays
  instead of parsing text or images again (USPS: 0.7 s of a run's start-up;
  the CIFAR-10 JPEGs: 7 s or more).

  In <$JAXMEM_CACHE_DIR or ~/.cache/jaxmem>/decoded/. Only what `decode`
  returned (it checks the file) is kept; an unreadable entry is decoded anew
  (with a warning), an unwritable folder skipped.
  """
  try:
    digest = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
  except OSError:
    return decode(path)  # With its own one-line error.
  folder = pathlib.Path(os.environ.get("JAXMEM_CACHE_DIR") or "~/.cache/jaxmem").expanduser()
  entry = folder / "decoded" / f"{decoder}-{digest}.npz"
  try:
    with np.load(entry, allow_pickle=False) as f:
      return dict(f)
  except FileNotFoundError:
    pass
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    logging.warning("Ignoring unreadable cache %s: %s", entry, e)
  arrays = decode(path)
  partial = entry.with_name(f"{entry.name}.{os.getpid()}.part")
  try:
    entry.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "wb") as f:
      np.savez(f, **arrays)
    os.replace(partial, entry)  # Atomic: concurrent runs never read half an entry.
  except OSError as e:
    partial.unlink(missing_ok=True)
    logging.warning("Not caching %s's arrays: %s", path, e)
  return arrays
