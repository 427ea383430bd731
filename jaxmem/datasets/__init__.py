"""Data sets: a registry of loaders, each giving whole splits as NumPy arrays.

The experiments train many small models on small data sets, so every split
fits in memory, and each run must see the same examples in the same order:
loaders are deterministic; the only randomness is the synthetic data's seed.

`config.dataset` names an entry of `DATASETS`, `tfds:<name>` for any TFDS
image classification set, or one's own arrays or images: `npz:<file>`,
`folder:<folder>` (`arrays`). A file in this folder adds a source: it defines
loaders `fn(data_dir: pathlib.Path, **options) -> base.Dataset` (float32 NHWC
images, int32 labels, int64 ids in the official order, and a `source` line),
raises `errors.UserError` for missing or damaged files, and is registered here
(`DATASETS`) or by `register` from a sweep file. `preprocess` and `corruption`
are the pure, keyed transforms applied inside the compiled step; `pruning`
chooses the training examples a pruned lane keeps, from a score file.
"""

import dataclasses
import hashlib
import io
import pathlib
from typing import Callable

import numpy as np

from jaxmem import errors
from jaxmem.datasets import arrays
from jaxmem.datasets import base
from jaxmem.datasets import builtin
from jaxmem.datasets import tfds_data

Dataset, Split = base.Dataset, base.Split
describe, resolve_data_dir = base.describe, base.resolve_data_dir

# Name -> loader. A plain dict: `register` adds to it.
DATASETS: dict[str, Callable[..., Dataset]] = dict(builtin.LOADERS)


def register(name: str, loader: Callable[..., Dataset]) -> None:
  """Adds a loader under `name` (e.g. from a sweep file), for config.dataset."""
  DATASETS[name] = loader


TFDS_PREFIX = "tfds:"
# Data sets named by where they are: prefix -> loader(name, path).
FILES = {"npz:": arrays.load_npz, "folder:": arrays.load_folder}


def check_name(name: str) -> None:
  """Raises UserError unless `name` is a key of DATASETS, `tfds:<TFDS name>`,
  `npz:<file>` or `folder:<folder>`.

  Only the form is checked (cheaply, before any data is read): whether the
  data is there, and sound, is found out by `load`.
  """
  if name in DATASETS:
    return
  for prefix in FILES:
    if name.startswith(prefix):
      if not name[len(prefix):]:
        raise errors.UserError(f"dataset {name!r}: a path comes after {prefix!r}")
      return
  if name.startswith(TFDS_PREFIX):
    spec = name[len(TFDS_PREFIX):]
    if tfds_data.NAME.fullmatch(spec):
      return
    raise errors.UserError(
        f"dataset {name!r}: after 'tfds:' comes a TFDS name, "
        "name[/config][:version], optionally #<label feature>, e.g. tfds:mnist, "
        "tfds:cifar100#coarse_label")
  raise errors.UserError(
      f"unknown dataset {name!r}; valid choices: {', '.join(DATASETS)}, "
      "tfds:<name> for any TFDS image classification data set (e.g. tfds:mnist), "
      "npz:<file> or folder:<folder>")


def _take(split: Split, size: int | None, what: str, name: str) -> Split:
  """Keeps the first `size` examples of `split`."""
  if size is None:
    return split
  available = len(split.labels)
  if not 1 <= size <= available:
    raise errors.UserError(
        f"{what}_size={size} is out of range: {name} has {available} {what} "
        "examples")
  return Split(split.images[:size], split.labels[:size], split.index[:size])


def _select(split: Split, path: str, name: str) -> tuple[Split, str]:
  """Keeps the training examples at the positions listed in .npy file `path`.

  Returns the split and a note for `Dataset.source` with the file's SHA-256,
  so that a run's folder records exactly which examples it trained on.
  """
  try:
    raw = pathlib.Path(path).read_bytes()
    positions = np.load(io.BytesIO(raw), allow_pickle=False)
  except (OSError, ValueError) as e:
    raise errors.UserError(f"config.train_indices: cannot read {path}: {base.one_line(e)}") from None
  n = len(split.labels)
  if (positions.ndim != 1 or not len(positions) or positions.dtype.kind not in "iu"
      or positions.min() < 0 or positions.max() >= n
      or len(np.unique(positions)) != len(positions)):
    raise errors.UserError(
        f"config.train_indices: {path} must hold distinct integer positions in "
        f"0..{n - 1} (the {n} training examples of {name}), shape [K]; got "
        f"dtype {positions.dtype}, shape {positions.shape}")
  positions = np.sort(positions)
  note = (f"; training examples: the {len(positions)} positions in {path} "
          f"(sha256 {hashlib.sha256(raw).hexdigest()})")
  return Split(split.images[positions], split.labels[positions],
               split.index[positions]), note


def _validate(dataset: Dataset) -> None:
  """Checks `Split`'s contract: bad structure is a bug, bad values bad data."""
  image_shape = dataset.train.images.shape[1:]
  for what, split in (("train", dataset.train), ("test", dataset.test)):
    n = len(split.labels)
    if (split.images.dtype != np.float32 or split.labels.dtype != np.int32
        or split.index.dtype != np.int64 or split.index.shape != (n,)
        or split.images.shape != (n, *image_shape) or len(image_shape) != 3):
      raise ValueError(
          f"{dataset.name} {what}: bad arrays {split.images.shape} "
          f"{split.images.dtype}, {split.labels.shape} {split.labels.dtype}")
    num_classes = dataset.num_classes
    if n and not 0 <= split.labels.min() <= split.labels.max() < num_classes:
      raise errors.UserError(
          f"{dataset.source}: {what} labels outside [0, {num_classes})")
    if not np.isfinite(split.images).all():
      raise errors.UserError(f"{dataset.source}: {what} images are not finite")


def load(name: str, data_dir: str | pathlib.Path | None = None, *,
         train_size: int | None = None, test_size: int | None = None,
         synthetic: dict | None = None, train_indices: str = "") -> Dataset:
  """Loads data set `name` whole, optionally keeping only some examples.

  Args:
    name: a key of `DATASETS`, `tfds:<name>` for any TFDS image
      classification data set (`jaxmem.datasets.tfds_data`), `npz:<file>` or
      `folder:<folder>` (`jaxmem.datasets.arrays`).
    data_dir: the folder with the data files; see `resolve_data_dir`.
    train_size: keep the first `train_size` training examples (all if None).
    test_size: keep the first `test_size` test examples (all if None).
    synthetic: options of the `synthetic` data set (see `builtin.SYNTHETIC_DEFAULTS`);
      ignored by the others, so that a config can always carry them.
    train_indices: a .npy file of positions in the (first `train_size`)
      training examples to keep, e.g. for Toneva et al.'s removal experiment;
      "" keeps them all.

  Returns:
    The data set, checked: shapes agree, labels are in range, images are finite.
    Loading logs nothing (TFDS's probes are silenced): a run logs
    `describe(dataset)` once it has accepted the data, so that bad input
    found after loading still ends with one line.
  """
  check_name(name)
  data_dir = resolve_data_dir(None if data_dir is None else str(data_dir))
  prefix = next((p for p in FILES if name.startswith(p)), None)
  if name.startswith(TFDS_PREFIX):
    dataset = builtin.from_tfds(name, name[len(TFDS_PREFIX):], data_dir)
  elif prefix:
    dataset = FILES[prefix](name, name[len(prefix):])
  else:
    options = dict(synthetic or {}) if name == "synthetic" else {}
    dataset = DATASETS[name](data_dir, **options)
  dataset = dataclasses.replace(
      dataset, full_sizes=(len(dataset.train.labels), len(dataset.test.labels)),
      train=_take(dataset.train, train_size, "train", name),
      test=_take(dataset.test, test_size, "test", name))
  if train_indices:
    train, note = _select(dataset.train, train_indices, name)
    dataset = dataclasses.replace(dataset, train=train, source=dataset.source + note)
  _validate(dataset)
  return dataset


def from_config(config, data_dir=None) -> Dataset:
  """The data set a run's config asks for (its sizes, indices and options):
  the one way a run, a report or an analysis loads a config's data."""
  return load(config["dataset"], data_dir, train_size=config["train_size"] or None,
              test_size=config["test_size"] or None,
              synthetic=dict(config["synthetic"]),
              train_indices=config.get("train_indices", ""))
