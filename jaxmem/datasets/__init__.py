"""Image classification data sets, loaded whole into memory as NumPy arrays.

The experiments train many small models on small data sets, so every split
fits in memory, and each run must see the same examples in the same order:
loaders are deterministic; the only randomness is the synthetic data's seed.
Missing or damaged data files are user mistakes and raise `errors.UserError`.
Two sources live in their own modules: `jaxmem.tfds_data` (any TFDS data set,
`tfds:<name>`) and `jaxmem.cifar10_jpeg` (CIFAR-10's JPEG copy and its
official ids).
"""

from collections.abc import Callable
import dataclasses
import gzip
import hashlib
import http.client
import io
import math
import os
import pathlib
import urllib.request
import zlib

import numpy as np

from jaxmem.datasets import cifar10_jpeg
from jaxmem import errors
from jaxmem.datasets import tfds_data


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


_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)
_USPS_URL = "https://hastie.su.domains/ElemStatLearn/datasets/"
_USPS_FILES = ("zip.train.gz", "zip.test.gz")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_DEBIAN_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
_SYNTHETIC_DEFAULTS = dict(num_train=1024, num_test=256, shape=(8, 8, 1),
                           num_classes=10, seed=0)


def _split(images: np.ndarray, labels: np.ndarray,
           index: np.ndarray | None = None) -> Split:
  """Makes a split of `images` [N, H, W, C]; `index` defaults to 0..N-1."""
  if index is None:
    index = np.arange(len(labels), dtype=np.int64)
  return Split(images.astype(np.float32, copy=False), labels.astype(np.int32),
               index.astype(np.int64, copy=False))


def _line(error: Exception) -> str:
  """The error's message on one line, for `errors.UserError`."""
  return " ".join(str(error).split())


def resolve_data_dir(flag_value: str | None) -> pathlib.Path:
  """The data folder: the flag, else $JAXMEM_DATA_DIR, else ~/.cache/jaxmem."""
  value = flag_value or os.environ.get("JAXMEM_DATA_DIR") or "~/.cache/jaxmem"
  return pathlib.Path(value).expanduser().absolute()


def _download(url: str, path: pathlib.Path) -> None:
  """Fetches `url` to `path`; a failure leaves no partial file behind."""
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = path.with_name(f"{path.name}.{os.getpid()}.part")
  try:
    with urllib.request.urlopen(url, timeout=20) as response:
      partial.write_bytes(response.read())
    os.replace(partial, path)
  finally:
    partial.unlink(missing_ok=True)


def _read_usps(path: pathlib.Path) -> Split:
  """Reads one ESL USPS file: rows of a digit then 256 pixels in [-1, 1]."""
  try:
    with gzip.open(path, "rt") as f:
      rows = [line.split() for line in f if line.strip()]
  except _READ_ERRORS as e:
    raise errors.UserError(f"cannot read USPS file {path}: {_line(e)}") from e
  if not rows or any(len(row) != 257 for row in rows):
    raise errors.UserError(
        f"USPS file {path} is truncated or malformed: expected rows of 257 "
        "numbers (a digit, then 16x16 pixels)")
  try:
    table = np.array(rows, dtype=np.float32)
  except ValueError as e:
    raise errors.UserError(f"USPS file {path}: {_line(e)}") from e
  labels, pixels = table[:, 0], table[:, 1:]
  if np.any((labels != np.round(labels)) | (labels < 0) | (labels > 9)):
    raise errors.UserError(f"USPS file {path} has labels that are not 0-9")
  if not np.all(np.abs(pixels) <= 1):
    raise errors.UserError(f"USPS file {path} has pixels outside [-1, 1]")
  return _split((pixels.reshape(-1, 16, 16, 1) + 1) / 2, labels)


def _load_usps(data_dir: pathlib.Path) -> Dataset:
  """USPS digits (LeCun et al. 1989's split); downloads missing files once."""
  folder = data_dir / "usps"
  missing = [f for f in _USPS_FILES if not (folder / f).exists()]
  reason = "JAXMEM_OFFLINE=1 forbids downloading"
  if missing and os.environ.get("JAXMEM_OFFLINE") != "1":
    try:
      for name in missing:
        _download(_USPS_URL + name, folder / name)
    except (OSError, http.client.HTTPException) as e:  # Timeouts are OSErrors.
      reason = f"download failed: {_line(e)}"
    missing = [f for f in _USPS_FILES if not (folder / f).exists()]
  if missing:
    raise errors.UserError(
        f"USPS files missing: {', '.join(missing)} ({reason}); put them in "
        f"{folder}/ (get them from {_USPS_URL}) or set $JAXMEM_DATA_DIR to a "
        "folder with usps/")
  train, test = (_read_usps(folder / f) for f in _USPS_FILES)
  return Dataset("usps", train, test, 10, str(folder))


def _read_idx(path: pathlib.Path) -> np.ndarray:
  """Reads an IDX file of unsigned bytes (the MNIST format), gzipped or not."""
  try:
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
      data = f.read()
  except _READ_ERRORS as e:
    raise errors.UserError(f"cannot read IDX file {path}: {_line(e)}") from e
  if len(data) < 4 or data[:3] != b"\0\0\x08" or len(data) < 4 + 4 * data[3]:
    raise errors.UserError(f"{path} is not an IDX file of unsigned bytes")
  start = 4 + 4 * data[3]
  shape = tuple(int(d) for d in np.frombuffer(data[4:start], ">u4"))
  if len(data) != start + math.prod(shape):
    raise errors.UserError(f"IDX file {path} is truncated: {len(data)} bytes "
                           f"for shape {shape}")
  return np.frombuffer(data, np.uint8, offset=start).reshape(shape)


def _read_idx_folder(folder: pathlib.Path) -> tuple[Split, Split] | None:
  """Reads the four MNIST-format files in `folder`; None if it has none."""
  candidates = [(folder / n, folder / f"{n}.gz") for n in _IDX_FILES]
  paths = [next((p for p in pair if p.exists()), None) for pair in candidates]
  if not any(paths):
    return None
  if not all(paths):
    missing = [n for n, p in zip(_IDX_FILES, paths) if p is None]
    raise errors.UserError(f"{folder} lacks {', '.join(missing)} (.gz or not)")
  train_x, train_y, test_x, test_y = map(_read_idx, paths)
  if (train_x.ndim != 3 or len(train_x) != len(train_y)
      or len(test_x) != len(test_y)):
    raise errors.UserError(f"the IDX files in {folder} disagree on their sizes")
  return (_split(train_x[..., None] / np.float32(255), train_y),
          _split(test_x[..., None] / np.float32(255), test_y))


def _from_tfds(name: str, spec: str, data_dir: pathlib.Path,
               required: bool = True) -> Dataset | None:
  """Data set `name` read from TFDS data set `spec` (see `jaxmem.tfds_data`)."""
  loaded = tfds_data.read(spec, data_dir, required=required)
  if loaded is None:
    return None
  return Dataset(name, _split(*loaded.train), _split(*loaded.test),
                 loaded.num_classes, loaded.source)


def _load_mnist_like(name: str, folders: list[pathlib.Path],
                     data_dir: pathlib.Path) -> Dataset:
  """Reads MNIST-format files from the first of `folders` with them, or TFDS."""
  for folder in folders:
    if splits := _read_idx_folder(folder):
      return Dataset(name, *splits, 10, str(folder))
  if dataset := _from_tfds(name, name, data_dir, required=False):
    return dataset
  raise errors.UserError(
      f"no {name} data: put {', '.join(_IDX_FILES)} (.gz or not) in "
      f"{' or '.join(map(str, folders))}, or {tfds_data.build_hint(name, data_dir)}")


def _load_cifar10(data_dir: pathlib.Path) -> Dataset:
  """CIFAR-10 from TFDS if prepared there, else its JPEG copy (quality 75)."""
  if dataset := _from_tfds("cifar10", "cifar10", data_dir, required=False):
    return dataset
  path = data_dir / cifar10_jpeg.TARBALL
  if not path.exists():
    raise errors.UserError(f"no cifar10 data: put the JPEG copy at {path}, or "
                           f"{tfds_data.build_hint('cifar10', data_dir)}")
  train, test, source = cifar10_jpeg.load(data_dir)
  return Dataset("cifar10", _split(*train), _split(*test), 10, source)


def _load_digits(data_dir: pathlib.Path) -> Dataset:
  """scikit-learn's 8x8 digits: the first 1437 train, the last 360 test."""
  del data_dir  # Ships inside scikit-learn.
  # Imported here: it takes over a second and only this loader needs it.
  # pylint: disable-next=g-import-not-at-top
  from sklearn import datasets as sklearn_datasets
  digits = sklearn_datasets.load_digits()
  split = _split(digits.images[..., None] / 16, digits.target)  # From 0..16.
  train, test = (Split(split.images[s], split.labels[s], split.index[s])
                 for s in (slice(None, 1437), slice(1437, None)))
  return Dataset("digits", train, test, 10, "sklearn.load_digits")


def _load_synthetic(data_dir: pathlib.Path, **options) -> Dataset:
  """Standard normal images with uniformly random labels: pure memorization."""
  del data_dir
  for key in options:
    errors.check_choice("synthetic option", key, _SYNTHETIC_DEFAULTS)
  opts = {**_SYNTHETIC_DEFAULTS, **options}
  shape = tuple(opts["shape"])
  counts = (opts["num_train"], opts["num_test"], opts["num_classes"], *shape)
  if len(shape) != 3 or not all(
      isinstance(n, (int, np.integer)) and n > 0 for n in counts):
    raise errors.UserError(
        f"synthetic options need positive integers and shape (H, W, C): {opts}")
  rng = np.random.default_rng(opts["seed"])
  train, test = (_split(rng.standard_normal((n, *shape), dtype=np.float32),
                        rng.integers(0, opts["num_classes"], n))
                 for n in (opts["num_train"], opts["num_test"]))
  return Dataset("synthetic", train, test, opts["num_classes"],
                 f"synthetic(seed={opts['seed']})")


DATASETS: dict[str, Callable[..., Dataset]] = {
    "usps": _load_usps,
    "cifar10": _load_cifar10,
    # Through TFDS only: no other copy is read.
    "cifar100": lambda data_dir: _from_tfds("cifar100", "cifar100", data_dir),
    "svhn": lambda data_dir: _from_tfds("svhn", "svhn_cropped", data_dir),
    "mnist": lambda data_dir: _load_mnist_like(
        "mnist", [data_dir / "mnist"], data_dir),
    "fashion_mnist": lambda data_dir: _load_mnist_like(
        "fashion_mnist", [data_dir / "fashion_mnist", _DEBIAN_FASHION_MNIST],
        data_dir),
    "digits": _load_digits,
    "synthetic": _load_synthetic,
}


TFDS_PREFIX = "tfds:"


def check_name(name: str) -> None:
  """Raises UserError unless `name` is a key of DATASETS or `tfds:<TFDS name>`.

  Only the form is checked (cheaply, before any data is read): whether TFDS
  knows the name and has it prepared is found out by `load`.
  """
  if name in DATASETS:
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
      f"unknown dataset {name!r}; valid choices: {', '.join(DATASETS)}, or "
      "tfds:<name> for any TFDS image classification data set (e.g. tfds:mnist)")


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
    raise errors.UserError(f"config.train_indices: cannot read {path}: {_line(e)}") from None
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
    name: a key of `DATASETS`, or `tfds:<name>` for any TFDS image
      classification data set (`jaxmem.tfds_data`).
    data_dir: the folder with the data files; see `resolve_data_dir`.
    train_size: keep the first `train_size` training examples (all if None).
    test_size: keep the first `test_size` test examples (all if None).
    synthetic: options of the `synthetic` data set (see `_SYNTHETIC_DEFAULTS`);
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
  if name.startswith(TFDS_PREFIX):
    dataset = _from_tfds(name, name[len(TFDS_PREFIX):], data_dir)
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
