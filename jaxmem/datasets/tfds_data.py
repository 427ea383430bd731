"""Any TFDS image classification data set, read as prepared array_record files.

`builder.as_data_source` (what `tfds.data_source(..., download=False)` calls)
reads array_record files and decodes images with Pillow, so this needs no
TensorFlow; preparing the data does (`tfds build`, once, where there is
internet). Data sets are looked for in `<data_dir>/tfds`, then in TFDS's default
folder ($TFDS_DATA_DIR or ~/tensorflow_datasets), and never downloaded.

A data set's name is TFDS's own, `name[/config][:version]`, optionally followed
by `#<label feature>` to train on another ClassLabel (`cifar100#coarse_label`).
The image and label keys and the number of classes come from the builder's
features: the Image and the ClassLabel named `image` and `label`, else the
builder's supervised keys, else the only feature of that kind.
"""

import contextlib
import dataclasses
import difflib
import logging as std_logging
import os
import pathlib
import re

from absl import logging
import numpy as np

from jaxmem import errors

# name[/config][:version][#label]; TFDS's keyword syntax (`name/a=1,b=2`) fits
# in the config part. Community namespaces (`huggingface:...`) are not read.
NAME = re.compile(r"[a-z0-9_]+(/[A-Za-z0-9_.=,-]+)?(:[0-9.*]+)?(#[A-Za-z0-9_]+)?")

# Data sets whose 'id' feature, "<split>_<N>", numbers the examples in the order
# of the files they were released as (TFDS's builder counts them as it reads the
# files in order, before it shuffles them for storage), so N is the official
# index. Any other data set's index is its position in TFDS's stored order.
OFFICIAL_IDS = {
    # data_batch_1..5.bin, test_batch.bin of the binary release (cifar.py).
    "cifar10": "the binary release's order",
    # train.bin, test.bin of the binary release (cifar.py, Cifar100).
    "cifar100": "the binary release's order",
    # CIFAR-10's binary order again, with human labels (cifar10_n.py).
    "cifar10_n": "CIFAR-10's binary release order",
    # CIFAR-100's binary order again, with human labels (cifar100_n.py).
    "cifar100_n": "CIFAR-100's binary release order",
    # CIFAR-10's binary order, human label distributions on test (cifar10_h.py).
    "cifar10_h": "CIFAR-10's binary release order",
    # Column order of train_32x32.mat / test_32x32.mat (svhn_cropped builder).
    "svhn_cropped": "the order of the released .mat files",
}


@dataclasses.dataclass(frozen=True)
class Loaded:
  """What a TFDS data set gave: (images [N,H,W,C] in [0, 1], labels, index)."""
  train: tuple[np.ndarray, np.ndarray, np.ndarray]
  test: tuple[np.ndarray, np.ndarray, np.ndarray]
  num_classes: int
  source: str


def build_hint(name: str, data_dir: pathlib.Path) -> str:
  """How to prepare data set `name` so that jaxmem can read it."""
  # No backticks: docs/bad_inputs.md shows messages as code.
  return ("prepare it with TFDS where there is internet and TensorFlow: "
          f"tfds build {name} --file_format=array_record "
          f"--data_dir={data_dir / 'tfds'}")


class _DropTfds(std_logging.Filter):
  """Drops TFDS's own records: its probes log what is not the case."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return "/tensorflow_datasets/" not in record.pathname.replace("\\", "/")


@contextlib.contextmanager
def _quiet():
  """Silences TFDS's absl logging (not jaxmem's) for the duration."""
  logger, drop = std_logging.getLogger("absl"), _DropTfds()
  logger.addFilter(drop)
  try:
    yield
  finally:
    logger.removeFilter(drop)


def _folders(data_dir: pathlib.Path) -> list[pathlib.Path]:
  """Where to look: <data_dir>/tfds, then TFDS's default ($TFDS_DATA_DIR or
  ~/tensorflow_datasets, read now rather than when TFDS was imported)."""
  default = pathlib.Path(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets")
  folders = [data_dir / "tfds", default.expanduser().absolute()]
  return folders[:1] if folders[0] == folders[1] else folders


def _where(data_dir: pathlib.Path) -> str:
  return " or ".join(map(str, _folders(data_dir)))


def _unknown(tfds, name: str, data_dir: pathlib.Path) -> errors.UserError:
  base = name.split("/")[0].split(":")[0]
  known = tfds.list_builders(with_community_datasets=False)
  close = difflib.get_close_matches(base, known, n=5, cutoff=0.6)
  hint = (f"; close matches: {', '.join(f'tfds:{c}' for c in close)}" if close
          else "; tfds.list_builders() lists those it knows")
  return errors.UserError(
      f"TFDS knows no data set {base!r} (none registered, none prepared in "
      f"{_where(data_dir)}){hint}")


def _bad_builder(tfds, spec: str, error: Exception) -> errors.UserError:
  """TFDS's complaint about a config or version, on one line, with the configs."""
  text = " ".join(str(error).split())
  text = re.sub(r'^Failed to construct dataset "[^"]*", builder_kwargs "[^"]*": ',
                "", text)
  text = re.sub(r"\s*Here are \d+ BuilderConfigs.*$", "", text)[:300].rstrip(".")
  base, _, config = spec.partition("#")[0].partition(":")[0].partition("/")
  try:
    configs = [c.name for c in tfds.builder_cls(base).BUILDER_CONFIGS]
  except Exception:  # pylint: disable=broad-except
    configs = []
  listed = ""
  if len(configs) > 8:
    close = difflib.get_close_matches(config, configs, n=5, cutoff=0.0)
    listed = f"; {len(configs)} configs, e.g. {', '.join(close)}"
  elif configs:
    listed = f"; its configs: {', '.join(configs)}"
  return errors.UserError(f"tfds:{spec}: {text or type(error).__name__}{listed}")


def _pick(features, kind, preferred: str, supervised: str | None,
          what: str, spec: str, given: str | None = None) -> str:
  """The key of the `kind` feature to use: given, preferred, supervised, only."""
  keys = [k for k in features.keys() if isinstance(features[k], kind)]
  if given is not None:
    if given not in keys:
      raise errors.UserError(
          f"tfds:{spec}: {given!r} is not a {what} feature; its {what} "
          f"features: {', '.join(keys) or 'none'}")
    return given
  for key in (preferred, supervised):
    if key in keys:
      return key
  if len(keys) == 1:
    return keys[0]
  if not keys:
    raise errors.UserError(
        f"tfds:{spec} is not an image classification data set: it has no "
        f"{what} feature (features: {', '.join(features.keys())})")
  raise errors.UserError(
      f"tfds:{spec} has several {what} features ({', '.join(keys)}); name one: "
      f"tfds:{spec}#<key>")


def _split_names(info, spec: str) -> tuple[str, str]:
  """'train' and 'test' (else 'validation'); unknown splits (mocks) assumed."""
  names = list(info.splits.keys())
  if not names:
    return "train", "test"
  test = next((s for s in ("test", "validation") if s in names), None)
  if "train" not in names or test is None:
    raise errors.UserError(
        f"tfds:{spec} has the splits {', '.join(names)}; jaxmem needs a "
        "'train' split and a 'test' (or else 'validation') split")
  return "train", test


def _check_images(image, spec: str, info, splits) -> None:
  shape = tuple(image.shape)
  if len(shape) != 3 or None in shape:
    raise errors.UserError(
        f"tfds:{spec} has images of shape {shape}; jaxmem needs one fixed "
        "(height, width, channels) shape for every image")
  if np.dtype(image.np_dtype).kind != "u":
    raise errors.UserError(
        f"tfds:{spec} has {np.dtype(image.np_dtype)} images; jaxmem reads "
        "unsigned integer pixels")
  sizes = [info.splits[s].num_examples for s in splits if s in info.splits]
  if sizes:
    from jaxmem.runtime import budget  # pylint: disable=g-import-not-at-top
    need, have = 4 * sum(sizes) * int(np.prod(shape)), budget.host_memory_available()
    if have is not None and need > budget.USABLE * have:
      raise errors.UserError(
          f"tfds:{spec}: its {' + '.join(map(str, sizes))} images need "
          f"{need / 2**30:.1f} GB as float32 but {have / 2**30:.1f} GB of "
          "memory is available; jaxmem holds whole splits in memory")


def _ids(records_ids: list, split: str) -> np.ndarray | None:
  """N of each "<split>_<N>" id, if they number the examples 0..n-1; else None."""
  pattern = re.compile(rf"{re.escape(split)}_(\d+)")
  numbers = []
  for value in records_ids:
    text = value.decode() if isinstance(value, bytes) else str(value)
    if not (match := pattern.fullmatch(text)):
      return None
    numbers.append(int(match.group(1)))
  index = np.array(numbers, dtype=np.int64)
  if not np.array_equal(np.sort(index), np.arange(len(index))):
    return None
  return index


def _read_split(source, image_key: str, label_key: str, id_key: str | None,
                split: str, scale: float):
  """Reads every record of `source` into float32 images, labels and ids."""
  # One record at a time: as fast as `__getitems__` here (0.9 s for 5000
  # CIFAR-size images), which tfds.testing.mock_data cannot mock.
  n = len(source)
  images, labels, ids = None, np.empty(n, np.int64), []
  for i in range(n):
    record = source[i]
    if images is None:
      images = np.empty((n, *np.shape(record[image_key])), np.float32)
    images[i] = record[image_key] / np.float32(scale)
    labels[i] = record[label_key]
    if id_key:
      ids.append(record[id_key])
  if images is None:
    raise errors.UserError(f"the TFDS split {split!r} is empty")
  return images, labels, (_ids(ids, split) if id_key else None)


def _builder(tfds, spec: str, name: str, folder: pathlib.Path):
  """TFDS's builder of `name` reading `folder`; None if it knows none there."""
  try:
    return tfds.builder(name, data_dir=folder)
  except tfds.core.registered.DatasetNotFoundError:
    return None  # Neither registered nor prepared in this folder.
  except Exception as e:  # pylint: disable=broad-except
    # A bad config or version: TFDS says so with several exception types.
    raise _bad_builder(tfds, spec, e) from None


def _keys(tfds, builder, spec: str, label_given: str | None):
  """(image key, label key, (train split, test split)) of the data set."""
  info, features = builder.info, builder.info.features
  supervised = tuple(info.supervised_keys or ())[:2] or (None, None)
  image_key = _pick(features, tfds.features.Image, "image", supervised[0],
                    "Image", spec)
  label_key = _pick(features, tfds.features.ClassLabel, "label", supervised[1],
                    "ClassLabel", spec, label_given)
  splits = _split_names(info, spec)
  _check_images(features[image_key], spec, info, splits)
  return image_key, label_key, splits


def read(spec: str, data_dir: pathlib.Path, *, required: bool = True) -> Loaded | None:
  """Reads TFDS data set `spec` (`name[/config][:version][#label]`) whole.

  Args:
    spec: the data set, TFDS's name optionally followed by `#<label feature>`.
    data_dir: jaxmem's data folder; TFDS's data is looked for in its `tfds/`.
    required: if False, a known data set prepared nowhere gives None (the
      caller has another source) instead of an error.

  Returns:
    Its train and test splits; `index` is the official index where
    `OFFICIAL_IDS` says the 'id' feature gives it, else the position in TFDS's
    stored order (which TFDS shuffled when preparing), as `source` says.
  """
  # Imported here: it takes 0.5 s and only this path needs it.
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  name, _, label_given = spec.partition("#")
  failed = []  # Builders of the folders that know the data set but cannot read it.
  with _quiet():
    for folder in _folders(data_dir):
      if (builder := _builder(tfds, spec, name, folder)) is None:
        continue
      image_key, label_key, splits = _keys(tfds, builder, spec, label_given or None)
      try:
        sources = builder.as_data_source(split=list(splits))
      except Exception:  # pylint: disable=broad-except
        failed.append(builder)  # Not prepared here, or not as array_record.
        continue
      break
    else:
      if not failed:
        raise _unknown(tfds, name, data_dir)
      if not required:
        return None
      raise _not_prepared(spec, name, data_dir, failed)
    features = builder.info.features
    official = (builder.name in OFFICIAL_IDS and "id" in features.keys()
                and isinstance(features["id"], tfds.features.Text))
    scale = np.iinfo(features[image_key].np_dtype).max
    read_splits = [_read_split(source, image_key, label_key,
                               "id" if official else None, split, scale)
                   for source, split in zip(sources, splits)]
  how = []
  for (_, _, index), split in zip(read_splits, splits):
    if index is None and official:
      logging.warning("tfds:%s: the %s split's 'id' features do not number its "
                      "examples; using TFDS's order as their index", spec, split)
    how.append("official" if index is not None else "TFDS order")
  if how == ["official"] * 2:
    ids = f"ids: official ({OFFICIAL_IDS[builder.name]}, from the 'id' feature)"
  elif how == ["TFDS order"] * 2:
    ids = "ids: positions in TFDS's stored order (no official ids)"
  else:
    ids = f"ids: train {how[0]}, test {how[1]}"
  splits_note = "" if splits[1] == "test" else f"; test split: {splits[1]}"
  source = (f"tfds:{spec} ({builder.info.full_name} in {builder.data_dir}, label "
            f"{label_key!r}; {ids}{splits_note})")
  train, test = ((images, labels, np.arange(len(labels), dtype=np.int64)
                  if index is None else index)
                 for images, labels, index in read_splits)
  return Loaded(train, test, features[label_key].num_classes, source)


def _not_prepared(spec, name, data_dir, failed) -> errors.UserError:
  """Why a known data set could not be read, and how to prepare it."""
  for builder in failed:
    formats = builder.info.available_file_formats() if builder.is_prepared() else ()
    if formats and "array_record" not in {f.value for f in formats}:
      kinds = ", ".join(sorted(f.value for f in formats))
      return errors.UserError(
          f"tfds:{spec} is prepared in {builder.data_dir} as {kinds}, which "
          f"only TensorFlow reads; {build_hint(name, data_dir)}")
  return errors.UserError(
      f"tfds:{spec} is not prepared (as array_record) in {_where(data_dir)}; "
      f"{build_hint(name, data_dir)}")
