"""The named data sets: USPS, MNIST and Fashion-MNIST (IDX files), CIFAR-10,
scikit-learn's digits and a synthetic set; CIFAR-100 and SVHN through TFDS.

Each loader is `fn(data_dir, **options) -> base.Dataset`, registered by name
in jaxmem.datasets.DATASETS. Missing or damaged files are user mistakes and
raise `errors.UserError` naming the file and what to do.
"""

import dataclasses
import gzip
import http.client
import math
import os
import pathlib
import urllib.request
import zlib

import numpy as np

from jaxmem import errors
from jaxmem.datasets import base
from jaxmem.datasets import cifar10_jpeg
from jaxmem.datasets import tfds_data

Dataset, Split = base.Dataset, base.Split

_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)
USPS_URL = "https://hastie.su.domains/ElemStatLearn/datasets/"
_USPS_FILES = ("zip.train.gz", "zip.test.gz")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
SYNTHETIC_DEFAULTS = dict(num_train=1024, num_test=256, shape=(8, 8, 1),
                           num_classes=10, seed=0)


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
    raise errors.UserError(f"cannot read USPS file {path}: {base.one_line(e)}") from e
  if not rows or any(len(row) != 257 for row in rows):
    raise errors.UserError(
        f"USPS file {path} is truncated or malformed: expected rows of 257 "
        "numbers (a digit, then 16x16 pixels)")
  try:
    table = np.array(rows, dtype=np.float32)
  except ValueError as e:
    raise errors.UserError(f"USPS file {path}: {base.one_line(e)}") from e
  labels, pixels = table[:, 0], table[:, 1:]
  if np.any((labels != np.round(labels)) | (labels < 0) | (labels > 9)):
    raise errors.UserError(f"USPS file {path} has labels that are not 0-9")
  if not np.all(np.abs(pixels) <= 1):
    raise errors.UserError(f"USPS file {path} has pixels outside [-1, 1]")
  return base.make_split((pixels.reshape(-1, 16, 16, 1) + 1) / 2, labels)


def _load_usps(data_dir: pathlib.Path) -> Dataset:
  """USPS digits (LeCun et al. 1989's split); downloads missing files once."""
  folder = data_dir / "usps"
  missing = [f for f in _USPS_FILES if not (folder / f).exists()]
  reason = "JAXMEM_OFFLINE=1 forbids downloading"
  if missing and os.environ.get("JAXMEM_OFFLINE") != "1":
    try:
      for name in missing:
        _download(USPS_URL + name, folder / name)
    except (OSError, http.client.HTTPException) as e:  # Timeouts are OSErrors.
      reason = f"download failed: {base.one_line(e)}"
    missing = [f for f in _USPS_FILES if not (folder / f).exists()]
  if missing:
    raise errors.UserError(
        f"USPS files missing: {', '.join(missing)} ({reason}); put them in "
        f"{folder}/ (get them from {USPS_URL}) or set $JAXMEM_DATA_DIR to a "
        "folder with usps/")
  train, test = (Split(**base.cached(folder / f, "usps-v1",
                                     lambda p: dataclasses.asdict(_read_usps(p))))
                 for f in _USPS_FILES)
  return Dataset("usps", train, test, 10, str(folder))


def _read_idx(path: pathlib.Path) -> np.ndarray:
  """Reads an IDX file of unsigned bytes (the MNIST format), gzipped or not."""
  try:
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
      data = f.read()
  except _READ_ERRORS as e:
    raise errors.UserError(f"cannot read IDX file {path}: {base.one_line(e)}") from e
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
  return (base.make_split(train_x[..., None] / np.float32(255), train_y),
          base.make_split(test_x[..., None] / np.float32(255), test_y))


def from_tfds(name: str, spec: str, data_dir: pathlib.Path,
               required: bool = True) -> Dataset | None:
  """Data set `name` read from TFDS data set `spec` (see `jaxmem.datasets.tfds_data`)."""
  loaded = tfds_data.read(spec, data_dir, required=required)
  if loaded is None:
    return None
  return Dataset(name, base.make_split(*loaded.train), base.make_split(*loaded.test),
                 loaded.num_classes, loaded.source)


def _load_mnist_like(name: str, folders: list[pathlib.Path],
                     data_dir: pathlib.Path) -> Dataset:
  """Reads MNIST-format files from the first of `folders` with them, or TFDS."""
  for folder in folders:
    if splits := _read_idx_folder(folder):
      return Dataset(name, *splits, 10, str(folder))
  if dataset := from_tfds(name, name, data_dir, required=False):
    return dataset
  raise errors.UserError(
      f"no {name} data: put {', '.join(_IDX_FILES)} (.gz or not) in "
      f"{' or '.join(map(str, folders))}, or {tfds_data.build_hint(name, data_dir)}")


def _load_cifar10(data_dir: pathlib.Path) -> Dataset:
  """CIFAR-10 from TFDS if prepared there, else its JPEG copy (quality 75)."""
  if dataset := from_tfds("cifar10", "cifar10", data_dir, required=False):
    return dataset
  path = data_dir / cifar10_jpeg.TARBALL
  if not path.exists():
    raise errors.UserError(f"no cifar10 data: put the JPEG copy at {path}, or "
                           f"{tfds_data.build_hint('cifar10', data_dir)}")
  train, test, source = cifar10_jpeg.load(data_dir)
  return Dataset("cifar10", base.make_split(*train), base.make_split(*test), 10, source)


def _load_digits(data_dir: pathlib.Path) -> Dataset:
  """scikit-learn's 8x8 digits: the first 1437 train, the last 360 test."""
  del data_dir  # Ships inside scikit-learn.
  # Imported here: it takes over a second and only this loader needs it.
  # pylint: disable-next=g-import-not-at-top
  from sklearn import datasets as sklearn_datasets
  digits = sklearn_datasets.load_digits()
  split = base.make_split(digits.images[..., None] / 16, digits.target)  # From 0..16.
  train, test = (Split(split.images[s], split.labels[s], split.index[s])
                 for s in (slice(None, 1437), slice(1437, None)))
  return Dataset("digits", train, test, 10, "sklearn.load_digits")


def _load_synthetic(data_dir: pathlib.Path, **options) -> Dataset:
  """Standard normal images with uniformly random labels: pure memorization."""
  del data_dir
  for key in options:
    errors.check_choice("synthetic option", key, SYNTHETIC_DEFAULTS)
  opts = {**SYNTHETIC_DEFAULTS, **options}
  shape = tuple(opts["shape"])
  counts = (opts["num_train"], opts["num_test"], opts["num_classes"], *shape)
  if len(shape) != 3 or not all(
      isinstance(n, (int, np.integer)) and n > 0 for n in counts):
    raise errors.UserError(
        f"synthetic options need positive integers and shape (H, W, C): {opts}")
  rng = np.random.default_rng(opts["seed"])
  train, test = (base.make_split(rng.standard_normal((n, *shape), dtype=np.float32),
                        rng.integers(0, opts["num_classes"], n))
                 for n in (opts["num_train"], opts["num_test"]))
  return Dataset("synthetic", train, test, opts["num_classes"],
                 f"synthetic(seed={opts['seed']})")


LOADERS = {
    "usps": _load_usps,
    "cifar10": _load_cifar10,
    # Through TFDS only: no other copy is read.
    "cifar100": lambda data_dir: from_tfds("cifar100", "cifar100", data_dir),
    "svhn": lambda data_dir: from_tfds("svhn", "svhn_cropped", data_dir),
    "mnist": lambda data_dir: _load_mnist_like(
        "mnist", [data_dir / "mnist"], data_dir),
    "fashion_mnist": lambda data_dir: _load_mnist_like(
        "fashion_mnist", [data_dir / "fashion_mnist", DEBIAN_FASHION_MNIST],
        data_dir),
    "digits": _load_digits,
    "synthetic": _load_synthetic,
}
