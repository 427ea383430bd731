"""Data sets of one's own: NumPy arrays (`npz:PATH`) and image folders (`folder:PATH`).

`npz:/path/data.npz` holds `x_train`, `y_train`, `x_test`, `y_test` and,
optionally, `train_ids` and `test_ids` (the examples' official ids; else their
positions) and `num_classes` (else the largest label + 1). Images are uint8
(divided by 255) or floating point, NHWC or NHW (one channel).

`folder:/path` holds `train/<class>/*` and `test/<class>/*`, PNG or JPEG
images of one size, the classes in sorted order of their folder names. When
every file name in a split is a number (`0042.png`), that number is the
image's id and the split is in its order (so a folder written from arrays in
their order reads back in it); else the split is in sorted order of class
and name, and an image's id is its position there.

Both are checked as they load (shapes, dtypes, lengths, the label range,
non-finite values, classes without training examples): each fault is one
line. The source records the file's SHA-256, or a digest of the folder's
listing and bytes, so that config.json says exactly what was trained on.
"""

import hashlib
import io
import pathlib
import zipfile

import numpy as np

from jaxmem import errors
from jaxmem.datasets import base

_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
_SUFFIXES = (".png", ".jpg", ".jpeg")


def _images(x: np.ndarray, what: str, where: str) -> np.ndarray:
  """float32 NHWC images from uint8 (/255) or float, NHWC or NHW."""
  if x.ndim == 3:
    x = x[..., None]
  if x.ndim != 4:
    raise errors.UserError(f"{where}: {what} has shape {x.shape}; images are "
                           "[N, H, W, C] or [N, H, W]")
  if x.dtype == np.uint8:
    return x.astype(np.float32) / 255
  if x.dtype.kind != "f":
    raise errors.UserError(f"{where}: {what} has dtype {x.dtype}; images are uint8 "
                           "or floating point")
  x = x.astype(np.float32)
  if not np.isfinite(x).all():
    raise errors.UserError(f"{where}: {what} holds values that are not finite")
  return x


def _labels(y: np.ndarray, what: str, where: str) -> np.ndarray:
  if y.ndim != 1 or y.dtype.kind not in "iu":
    raise errors.UserError(f"{where}: {what} must be integers of shape [N], got "
                           f"{y.dtype} {y.shape}")
  return y.astype(np.int64)


def _classes(train: np.ndarray, test: np.ndarray, num_classes: int | None,
             where: str) -> int:
  """The class count, checking the labels' range and that every class has
  training examples."""
  found = int(max(train.max(initial=-1), test.max(initial=-1))) + 1
  num_classes = found if num_classes is None else int(num_classes)
  low = min(train.min(initial=0), test.min(initial=0))
  if low < 0 or found > num_classes:
    raise errors.UserError(
        f"{where}: labels outside 0..{num_classes - 1} (they reach {low} and "
        f"{found - 1})")
  if num_classes < 2:
    raise errors.UserError(f"{where}: {num_classes} class; a classification data "
                           "set needs two or more")
  empty = sorted(set(range(num_classes)) - set(np.unique(train).tolist()))
  if empty:
    raise errors.UserError(f"{where}: classes without training examples: "
                           f"{', '.join(map(str, empty[:10]))}")
  return num_classes


def load_npz(name: str, path: str) -> base.Dataset:
  """Data set `name` from the arrays of the .npz file `path`."""
  where = f"dataset {name}"
  try:
    raw = pathlib.Path(path).expanduser().read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as f:
      arrays = {k: f[k] for k in f.files}
  except FileNotFoundError:
    raise errors.UserError(f"{where}: no such file") from None
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    raise errors.UserError(f"{where}: not a readable .npz ({errors.cause(e)})") from None
  missing = [k for k in _REQUIRED if k not in arrays]
  if missing:
    raise errors.UserError(f"{where}: missing arrays {', '.join(missing)}; it needs "
                           f"{', '.join(_REQUIRED)} (optional: train_ids, test_ids, "
                           "num_classes)")
  splits = {}
  for split in ("train", "test"):
    x = _images(arrays[f"x_{split}"], f"x_{split}", where)
    y = _labels(arrays[f"y_{split}"], f"y_{split}", where)
    ids = arrays.get(f"{split}_ids")
    for what, other in ((f"y_{split}", y), (f"{split}_ids", ids)):
      if other is not None and len(other) != len(x):
        raise errors.UserError(f"{where}: x_{split} holds {len(x)} images but "
                               f"{what} {len(other)} entries")
    if ids is not None and (ids.ndim != 1 or ids.dtype.kind not in "iu"):
      raise errors.UserError(f"{where}: {split}_ids must be integers of shape [N]")
    splits[split] = (x, y, ids)
  if splits["train"][0].shape[1:] != splits["test"][0].shape[1:]:
    raise errors.UserError(f"{where}: train images {splits['train'][0].shape[1:]} and "
                           f"test images {splits['test'][0].shape[1:]} differ in shape")
  declared = arrays.get("num_classes")
  num_classes = _classes(splits["train"][1], splits["test"][1],
                         None if declared is None else int(declared), where)
  source = f"{pathlib.Path(path).expanduser().absolute()} (sha256 {hashlib.sha256(raw).hexdigest()})"
  return base.Dataset(name, *(base.make_split(*splits[s]) for s in ("train", "test")),
                      num_classes, source)


def _read_split(folder: pathlib.Path, classes: list[str], digest) -> tuple:
  """(images uint8 [N, H, W, C], labels [N], ids [N]) of one split's folder."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images, labels, names = [], [], []
  for label, cls in enumerate(classes):
    paths = sorted(p for p in (folder / cls).iterdir()
                   if p.suffix.lower() in _SUFFIXES) if (folder / cls).is_dir() else []
    for path in paths:
      raw = path.read_bytes()
      digest.update(f"{folder.name}/{cls}/{path.name}|".encode() + raw)
      try:
        image = np.asarray(Image.open(io.BytesIO(raw)))
      except Exception as e:  # pylint: disable=broad-except
        raise errors.UserError(f"cannot read image {path}: {errors.cause(e)}") from None
      images.append(image if image.ndim == 3 else image[..., None])
      labels.append(label)
      names.append(path.stem)
  if not images:
    return None
  shapes = {x.shape for x in images}
  if len(shapes) > 1:
    raise errors.UserError(f"{folder}: images of several shapes {sorted(shapes)[:3]}; "
                           "they must share one")
  images, labels = np.stack(images).astype(np.uint8), np.asarray(labels)
  if not all(n.isdigit() for n in names):
    return images, labels, np.arange(len(names))
  ids = np.asarray([int(n) for n in names])
  order = np.argsort(ids, kind="stable")  # The numbers give the order too.
  return images[order], labels[order], ids[order]


def load_folder(name: str, path: str) -> base.Dataset:
  """Data set `name` from a folder of train/<class>/ and test/<class>/ images."""
  root = pathlib.Path(path).expanduser().absolute()
  where = f"dataset {name}"
  if not (root / "train").is_dir() or not (root / "test").is_dir():
    raise errors.UserError(f"{where}: needs the folders {root}/train/<class>/ and "
                           f"{root}/test/<class>/")
  classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
  if len(classes) < 2:
    raise errors.UserError(f"{where}: {len(classes)} class folder(s) in {root}/train; "
                           "a classification data set needs two or more")
  digest = hashlib.sha256()
  splits = {}
  for split in ("train", "test"):
    read = _read_split(root / split, classes, digest)
    if read is None:
      raise errors.UserError(f"{where}: no PNG or JPEG images in {root}/{split}/<class>/")
    splits[split] = read
  empty = [c for i, c in enumerate(classes) if not (splits["train"][1] == i).any()]
  if empty:
    raise errors.UserError(f"{where}: classes without training images: {', '.join(empty)}")
  if splits["train"][0].shape[1:] != splits["test"][0].shape[1:]:
    raise errors.UserError(f"{where}: train and test images differ in shape")
  source = (f"{root} ({len(classes)} classes: {', '.join(classes[:10])}"
            f"{', ...' if len(classes) > 10 else ''}; sha256 of listing and bytes "
            f"{digest.hexdigest()})")
  return base.Dataset(name, *(base.make_split(_images(x, split, where), y, ids)
                              for split, (x, y, ids) in splits.items()),
                      len(classes), source)
