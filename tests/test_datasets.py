"""Tests of jaxmem.datasets on the real offline data and on small made files."""

import dataclasses
import gzip
import io
import os
import pathlib
import re
import tarfile
import urllib.error
import urllib.request

import numpy as np
from PIL import Image
import pytest
from sklearn import datasets as sklearn_datasets

from jaxmem import datasets
from jaxmem import errors
from jaxmem.datasets import base
from jaxmem.datasets import builtin
from jaxmem.datasets import cifar10_jpeg
from jaxmem.datasets import tfds_data

# Read before any test changes the environment; CI sets it relative to the repo.
SHARED = pathlib.Path(
    os.environ.get("JAXMEM_DATA_DIR")
    or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
).absolute()
CIFAR10_JPEG = SHARED / "cifar10-jpeg" / "cifar10-jpeg-q75.tar.gz"
CIFAR10_LABELS = SHARED / "cscores" / "cifar10-cscores-orig-order.npz"
# Per-class training counts published with the ESL copy of USPS.
USPS_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch, tmp_path):
  """No test downloads, touches the user's cache or reads $JAXMEM_DATA_DIR,
  or reads what this machine has prepared in TFDS's default folder."""
  monkeypatch.setenv("JAXMEM_OFFLINE", "1")
  monkeypatch.setenv("JAXMEM_CACHE_DIR", str(tmp_path / "cache"))
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds_default"))
  monkeypatch.delenv("JAXMEM_DATA_DIR", raising=False)


def _no_tfds(monkeypatch):
  """Makes TFDS find nothing prepared (and skips its 0.5 s import)."""
  monkeypatch.setattr(tfds_data, "read", lambda spec, data_dir, required=True: None)


def _names(path):
  return re.escape(str(path))


def _check_split(split, n, shape, num_classes=10, positions=True):
  assert split.images.shape == (n, *shape)
  assert split.images.dtype == np.float32 and split.labels.dtype == np.int32
  assert 0 <= split.images.min() and split.images.max() <= 1
  assert set(np.unique(split.labels)) == set(range(num_classes))
  if positions:  # The source's own order is the official one.
    np.testing.assert_array_equal(split.index, np.arange(n))


def test_usps_matches_the_files():
  ds = datasets.load("usps", SHARED)
  _check_split(ds.train, 7291, (16, 16, 1))
  _check_split(ds.test, 2007, (16, 16, 1))
  assert np.bincount(ds.train.labels).tolist() == USPS_TRAIN_COUNTS
  with gzip.open(SHARED / "usps" / "zip.train.gz", "rt") as f:
    first = np.array(f.readline().split(), np.float32)
  assert ds.train.labels[0] == first[0] == 6
  np.testing.assert_allclose(ds.train.images[0].ravel(), (first[1:] + 1) / 2)
  assert ds.source == str(SHARED / "usps") and ds.num_classes == 10


def test_usps_is_parsed_once_then_read_from_the_cache(tmp_path, monkeypatch):
  """The decoded arrays are kept under the file's SHA-256: a second load
  parses nothing and gives the same arrays; a damaged entry is parsed anew."""
  monkeypatch.setenv("JAXMEM_CACHE_DIR", str(tmp_path))
  parsed = []
  read = builtin._read_usps  # pylint: disable=protected-access
  monkeypatch.setattr(builtin, "_read_usps", lambda p: parsed.append(p) or read(p))
  first = datasets.load("usps", SHARED)
  assert len(parsed) == 2
  second = datasets.load("usps", SHARED)
  assert len(parsed) == 2
  entries = sorted((tmp_path / "decoded").glob("usps-v1-*.npz"))
  assert len(entries) == 2
  entries[0].write_bytes(b"not an npz")
  third = datasets.load("usps", SHARED)
  assert len(parsed) == 3
  for other in (second, third):
    for a, b in [(first.train, other.train), (first.test, other.test)]:
      for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b)):
        assert x.dtype == y.dtype and np.array_equal(x, y)
  np.testing.assert_array_equal(first.train.images, read(SHARED / "usps" / "zip.train.gz").images)


@pytest.fixture(scope="module")
def cifar10_twice(tmp_path_factory):
  """Loads the real JPEG CIFAR-10 twice, counting decodes (7 s or more each)."""
  decodes = []
  decode = cifar10_jpeg.decode
  cache = tmp_path_factory.mktemp("cifar_cache")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("JAXMEM_CACHE_DIR", str(cache))
    _no_tfds(mp)
    mp.setattr(cifar10_jpeg, "decode",
               lambda path: decodes.append(path) or decode(path))
    first = datasets.load("cifar10", SHARED)
    decodes_after_first = len(decodes)
    second = datasets.load("cifar10", SHARED)
  return first, second, (decodes_after_first, len(decodes)), cache


def test_cifar10_jpeg(cifar10_twice):
  ds = cifar10_twice[0]
  assert ds.source.startswith(f"{CIFAR10_JPEG} (JPEG copy, quality 75; train ids: "
                              f"official order, from the labels in {CIFAR10_LABELS}")
  _check_split(ds.train, 50000, (32, 32, 3), positions=False)
  _check_split(ds.test, 10000, (32, 32, 3))  # Test ids: file order.
  assert np.bincount(ds.train.labels).tolist() == [5000] * 10
  assert np.bincount(ds.test.labels).tolist() == [1000] * 10
  # Sorted by (filename, class): classes interleave, so any first N examples
  # are balanced; train/automobile/0000.jpg is example 1, airplane/0001 is 10.
  assert np.bincount(ds.train.labels[:2000]).tolist() == [200] * 10
  wanted = {"train/airplane/0001.jpg": 10, "train/automobile/0000.jpg": 1,
            "train/truck/4999.jpg": 49999}
  with tarfile.open(CIFAR10_JPEG) as tar:
    for member in tar:  # Lazily: tar.getmember would read the whole archive.
      if (i := wanted.pop(member.name, None)) is not None:
        jpeg = Image.open(io.BytesIO(tar.extractfile(member).read()))
        np.testing.assert_array_equal(ds.train.images[i] * 255,
                                      np.asarray(jpeg))
      if not wanted:
        break
  assert not wanted


def test_cifar10_jpeg_train_index_is_the_official_one(cifar10_twice):
  ds = cifar10_twice[0]
  with np.load(CIFAR10_LABELS) as npz:
    released = npz["labels"]
  assert released[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
  np.testing.assert_array_equal(np.sort(ds.train.index), np.arange(50000))
  np.testing.assert_array_equal(released[ds.train.index], ds.train.labels)
  # The order of the arrays is unchanged (classes interleaved); only the ids
  # are official: frog/0000.jpg (example 6) is the release's first image, the
  # first automobile (4) and truck (1) its 5th and 2nd.
  assert ds.train.index[[6, 1, 9]].tolist() == [0, 4, 1]
  # The (k+1)-th image of a class is its (k+1)-th occurrence in the release.
  for c in (0, 9):
    positions = np.flatnonzero(released == c)
    np.testing.assert_array_equal(ds.train.index[c::10], positions)


def test_cifar10_second_load_reads_the_cache(cifar10_twice):
  first, second, decodes, cache = cifar10_twice
  assert decodes == (1, 1)
  assert [p.name[:16] for p in cache.glob("decoded/*.npz")] == ["cifar10-jpeg-v2-"]
  for a, b in [(first.train, second.train), (first.test, second.test)]:
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.labels, b.labels)


def _write_tiny_cifar10(path, mtime, shift=0):
  """Two images per class and split, added to the tar in reverse order (their
  pixels raised by `shift`)."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with tarfile.open(path, "w:gz") as tar:
    for split in ("test", "train"):
      for label, name in reversed(list(enumerate(cifar10_jpeg.CLASSES))):
        for number in (1, 0):
          jpeg = io.BytesIO()
          pixel = 20 * label + 5 * number + shift
          Image.new("RGB", (32, 32), (pixel,) * 3).save(jpeg, format="JPEG")
          info = tarfile.TarInfo(f"{split}/{name}/{number:04d}.jpg")
          info.size = len(jpeg.getvalue())
          tar.addfile(info, io.BytesIO(jpeg.getvalue()))
  os.utime(path, (mtime, mtime))


def test_cifar10_order_and_cache_key(monkeypatch, tmp_path):
  _no_tfds(monkeypatch)
  monkeypatch.setenv("JAXMEM_CACHE_DIR", str(tmp_path / "cache"))
  decodes = []
  decode = cifar10_jpeg.decode
  monkeypatch.setattr(cifar10_jpeg, "decode",
                      lambda path: decodes.append(path) or decode(path))
  path = tmp_path / "cifar10-jpeg" / "cifar10-jpeg-q75.tar.gz"
  _write_tiny_cifar10(path, mtime=1e9)
  ds = datasets.load("cifar10", tmp_path)
  # Interleaved: every class's first image, then every class's second.
  np.testing.assert_array_equal(ds.test.labels, np.tile(np.arange(10), 2))
  pixels = np.round(ds.test.images[:, 0, 0, 0] * 255)
  np.testing.assert_allclose(pixels, 20 * ds.test.labels + np.repeat([0, 5], 10), atol=2)
  datasets.load("cifar10", tmp_path)
  assert len(decodes) == 1
  os.utime(path, (2e9, 2e9))  # The key is the content, not the file's time.
  datasets.load("cifar10", tmp_path)
  assert len(decodes) == 1
  _write_tiny_cifar10(path, mtime=2e9, shift=1)  # Other images: decoded anew.
  ds = datasets.load("cifar10", tmp_path)
  assert len(decodes) == 2
  assert np.round(ds.test.images[0, 0, 0, 0] * 255) != np.round(pixels[0])


def test_cifar10_jpeg_index_from_released_labels(monkeypatch, tmp_path, caplog):
  """Train ids: where each class's (NNNN+1)-th image is in the released labels;
  without them, file order with a warning that the source records."""
  _no_tfds(monkeypatch)
  _write_tiny_cifar10(tmp_path / cifar10_jpeg.TARBALL, mtime=1e9)
  with caplog.at_level("WARNING"):
    ds = datasets.load("cifar10", tmp_path)
  assert "is missing" in caplog.text
  assert "train ids: JPEG file order, not official" in ds.source
  np.testing.assert_array_equal(ds.train.index, np.arange(20))
  released = np.array([9, 5, 9] + [c for c in range(9) if c != 5 for _ in (0, 1)] + [5])
  (tmp_path / "cscores").mkdir()
  np.savez(tmp_path / cifar10_jpeg.RELEASED_LABELS, labels=released,
           scores=np.zeros(20))
  ds = datasets.load("cifar10", tmp_path)  # From the cache, with the labels now.
  assert "train ids: official order" in ds.source
  np.testing.assert_array_equal(released[ds.train.index], ds.train.labels)
  # truck/0000, dog/0000, truck/0001 are the release's first three images;
  # dog/0001 its last, airplane/0000 and /0001 the 4th and 5th.
  assert ds.train.index[[9, 5, 19, 15, 0, 10]].tolist() == [0, 1, 2, 19, 3, 4]
  np.testing.assert_array_equal(ds.test.index, np.arange(20))
  np.savez(tmp_path / cifar10_jpeg.RELEASED_LABELS, labels=released[:-1])
  caplog.clear()
  ds = datasets.load("cifar10", tmp_path)  # One airplane short: not used.
  assert "disagrees with the images" in caplog.text and "not official" in ds.source


def test_cifar10_without_any_source_names_the_path(monkeypatch, tmp_path):
  _no_tfds(monkeypatch)
  with pytest.raises(errors.UserError) as info:
    datasets.load("cifar10", tmp_path)
  message = str(info.value)
  assert str(tmp_path / "cifar10-jpeg" / "cifar10-jpeg-q75.tar.gz") in message
  assert "tfds build cifar10" in message and "\n" not in message


def test_fashion_mnist_from_debian_package(tmp_path):
  assert builtin.DEBIAN_FASHION_MNIST.exists(), (
      "real Fashion-MNIST is missing: apt-get install -y dataset-fashion-mnist")
  ds = datasets.load("fashion_mnist", tmp_path)
  assert ds.source == str(builtin.DEBIAN_FASHION_MNIST)
  _check_split(ds.train, 60000, (28, 28, 1))
  _check_split(ds.test, 10000, (28, 28, 1))
  assert np.bincount(ds.test.labels).tolist() == [1000] * 10


def _write_idx(path, array):
  header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
  with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def _write_mnist(folder, train=20, test=10):
  """Train files gzipped, test files not: both kinds must load."""
  folder.mkdir(parents=True)
  rng = np.random.default_rng(0)
  for prefix, n, suffix in [("train", train, ".gz"), ("t10k", test, "")]:
    _write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}",
               rng.integers(0, 256, (n, 28, 28)))
    _write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}",
               np.arange(n) % 10)


def test_mnist_from_idx_files(tmp_path):
  _write_mnist(tmp_path / "mnist")
  ds = datasets.load("mnist", tmp_path)
  _check_split(ds.train, 20, (28, 28, 1))
  _check_split(ds.test, 10, (28, 28, 1))
  assert ds.source == str(tmp_path / "mnist")


def test_truncated_idx_file_is_named(tmp_path):
  _write_mnist(tmp_path / "mnist")
  path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
  path.write_bytes(path.read_bytes()[:-100])
  with pytest.raises(errors.UserError, match=_names(path)):
    datasets.load("mnist", tmp_path)


def test_missing_mnist_names_the_folder_searched(monkeypatch, tmp_path):
  _no_tfds(monkeypatch)
  with pytest.raises(errors.UserError, match=_names(tmp_path / "mnist")):
    datasets.load("mnist", tmp_path)


@pytest.mark.parametrize("name, shape, num_classes, tfds_name", [
    ("mnist", (28, 28, 1), 10, "mnist/3.0.1"),
    ("cifar10", (32, 32, 3), 10, "cifar10/3.0.2"),
    ("tfds:cifar100", (32, 32, 3), 100, "cifar100/3.0.2"),
    ("tfds:cifar100#coarse_label", (32, 32, 3), 20, "cifar100/3.0.2"),
    ("tfds:svhn_cropped", (32, 32, 3), 10, "svhn_cropped/3.1.0"),
    ("cifar100", (32, 32, 3), 100, "cifar100/3.0.2"),
    ("svhn", (32, 32, 3), 10, "svhn_cropped/3.1.0"),
])
def test_tfds_under_mock_data(tmp_path, name, shape, num_classes, tfds_name):
  """tfds.testing.mock_data mocks `builder.as_data_source` with random records
  of the registered builder's features (random 'id's: not official)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  policy = tfds.testing.MockPolicy.USE_CODE
  with tfds.testing.mock_data(num_examples=6, policy=policy):
    ds = datasets.load(name, tmp_path)
  spec = name if name.startswith("tfds:") else "tfds:" + {
      "svhn": "svhn_cropped"}.get(name, name)
  assert ds.name == name and ds.num_classes == num_classes
  assert ds.source.startswith(f"{spec} ({tfds_name} in ")
  assert "ids: positions in TFDS's stored order" in ds.source
  for split in (ds.train, ds.test):
    assert split.images.shape == (6, *shape)
    assert split.images.dtype == np.float32 and split.labels.dtype == np.int32
    assert 0 <= split.images.min() and split.images.max() <= 1
    assert np.all(split.labels < num_classes)
    np.testing.assert_array_equal(split.index, np.arange(6))


def _png(value, shape):
  """A PNG whose pixels are all `value`: TFDS needs TensorFlow to encode."""
  png = io.BytesIO()
  Image.fromarray(np.full(shape, value, np.uint8).squeeze(-1) if shape[-1] == 1
                  else np.full(shape, value, np.uint8)).save(png, "PNG")
  png.seek(0)
  return png


def _prepare_tfds(folder, class_name, version, features, splits):
  """Prepares a real TFDS data set as array_record in `folder`, without
  TensorFlow: `features` maps keys to TFDS features, `splits` names to lists
  of (key, example). Unregistered, so TFDS reads it from its files alone
  unless the name is a registered builder's."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  def info(self):
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict(features))

  def split_generators(self, dl_manager):
    return {name: iter(examples) for name, examples in splits.items()}

  def generate_examples(self):
    raise NotImplementedError

  with tfds.core.registered.skip_registration():
    builder_class = type(class_name, (tfds.core.GeneratorBasedBuilder,), dict(
        VERSION=tfds.core.Version(version), _info=info,
        _split_generators=split_generators, _generate_examples=generate_examples))
  builder = builder_class(data_dir=folder, file_format="array_record")
  builder.download_and_prepare()
  return builder


def test_tfds_array_record_reads_without_tensorflow(tmp_path):
  """A real, tiny array_record `mnist` in <data_dir>/tfds, read unmocked."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  examples = lambda n: [(i, {"image": _png(20 * i, (28, 28, 1)), "label": i % 10})
                        for i in range(n)]
  _prepare_tfds(tmp_path / "tfds", "Mnist", "3.0.1", {  # The registered mnist's.
      "image": tfds.features.Image(shape=(28, 28, 1)),
      "label": tfds.features.ClassLabel(num_classes=10)},
                {"train": examples(12), "test": examples(5)})
  ds = datasets.load("mnist", tmp_path)
  assert ds.source == (f"tfds:mnist (mnist/3.0.1 in {tmp_path}/tfds/mnist/3.0.1, "
                       "label 'label'; ids: positions in TFDS's stored order "
                       "(no official ids))")
  assert ds.train.images.shape == (12, 28, 28, 1)
  assert ds.test.images.shape == (5, 28, 28, 1)
  # TFDS shuffles examples when preparing; each image still matches its label.
  example = np.round(ds.train.images[:, 0, 0, 0] * 255 / 20).astype(int)
  assert sorted(example) == list(range(12))
  np.testing.assert_array_equal(ds.train.labels, example % 10)
  np.testing.assert_array_equal(ds.train.index, np.arange(12))


def test_tfds_any_prepared_data_set_by_name(tmp_path):
  """A data set TFDS has no code for, read from its files: the keys come from
  its features ('label' among two ClassLabels), 'validation' stands in for a
  missing 'test', and without official ids the index is TFDS's order."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  features = {"picture": tfds.features.Image(shape=(8, 8, 3)),
              "label": tfds.features.ClassLabel(num_classes=7),
              "colour": tfds.features.ClassLabel(num_classes=2),
              "id": tfds.features.Text()}
  examples = lambda split, n: [(i, {"picture": _png(10 * i, (8, 8, 3)), "label": i % 7,
                                    "colour": i % 2, "id": f"{split}_{i:05d}"})
                               for i in range(n)]
  _prepare_tfds(tmp_path / "tfds", "JaxmemTinyShapes", "1.2.0", features,
                {"train": examples("train", 9), "validation": examples("validation", 4)})
  ds = datasets.load("tfds:jaxmem_tiny_shapes", tmp_path)
  assert (ds.name, ds.num_classes) == ("tfds:jaxmem_tiny_shapes", 7)
  assert ds.source.endswith("label 'label'; ids: positions in TFDS's stored order "
                            "(no official ids); test split: validation)")
  for split, n in ((ds.train, 9), (ds.test, 4)):
    example = np.round(split.images[:, 3, 5, 2] * 255 / 10).astype(int)
    assert sorted(example) == list(range(n)) and split.images.shape == (n, 8, 8, 3)
    np.testing.assert_array_equal(split.labels, example % 7)
    np.testing.assert_array_equal(split.index, np.arange(n))  # Not official.
  colour = datasets.load("tfds:jaxmem_tiny_shapes#colour", tmp_path)
  assert colour.num_classes == 2 and "label 'colour'" in colour.source
  example = np.round(colour.train.images[:, 0, 0, 0] * 255 / 10).astype(int)
  np.testing.assert_array_equal(colour.train.labels, example % 2)


def test_tfds_official_ids(tmp_path):
  """cifar10's 'id' ("train_00042") numbers the examples in the binary
  release's order: it becomes the index, whatever order TFDS stored them in."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  features = {"id": tfds.features.Text(),  # The registered cifar10's features.
              "image": tfds.features.Image(shape=(32, 32, 3)),
              "label": tfds.features.ClassLabel(num_classes=10)}
  examples = lambda split, n: [(i, {"id": f"{split}_{i:05d}", "label": (3 * i) % 10,
                                    "image": _png(7 * i, (32, 32, 3))})
                               for i in range(n)]
  _prepare_tfds(tmp_path / "tfds", "Cifar10", "3.0.2", features,
                {"train": examples("train", 30), "test": examples("test", 10)})
  for name in ("cifar10", "tfds:cifar10"):  # Before the JPEG copy, and by name.
    ds = datasets.load(name, tmp_path)
    assert "ids: official (the binary release's order, from the 'id' feature)" in ds.source
    for split, n in ((ds.train, 30), (ds.test, 10)):
      example = np.round(split.images[:, 0, 0, 0] * 255 / 7).astype(int)
      np.testing.assert_array_equal(split.index, example)  # The official index.
      assert sorted(split.index) == list(range(n))
      assert not np.array_equal(split.index, np.arange(n))  # TFDS shuffled them.
      np.testing.assert_array_equal(split.labels, (3 * split.index) % 10)


def test_tfds_bad_names_are_one_line(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  hint = (f"tfds build cifar100 --file_format=array_record "
          f"--data_dir={tmp_path}/tfds")
  where = f"{tmp_path}/tfds or {tmp_path}/tfds_default"
  cases = [
      ("tfds:cifar1000", f"TFDS knows no data set 'cifar1000' (none registered, "
       f"none prepared in {where}); close matches: tfds:cifar100, tfds:cifar10"),
      ("tfds:cifar100", f"tfds:cifar100 is not prepared (as array_record) in "
       f"{where}; prepare it with TFDS where there is internet and TensorFlow: {hint}"),
      ("cifar100", "tfds:cifar100 is not prepared (as array_record)"),
      ("tfds:cifar100#fine", "tfds:cifar100#fine: 'fine' is not a ClassLabel "
       "feature; its ClassLabel features: label, coarse_label"),
      ("tfds:emnist/nope", "tfds:emnist/nope: BuilderConfig nope not found with "
       "version 3.1.0; its configs: byclass, bymerge, balanced"),
      ("tfds:imagenette", "tfds:imagenette has images of shape (None, None, 3); "
       "jaxmem needs one fixed"),
      ("tfds:celeb_a", "tfds:celeb_a is not an image classification data set"),
      ("tfds:Cifar10", "after 'tfds:' comes a TFDS name"),
      ("tfds:", "after 'tfds:' comes a TFDS name"),
      ("imagenet", "unknown dataset 'imagenet'; valid choices: usps, cifar10, "
       "cifar100, svhn, mnist"),
  ]
  for name, message in cases:
    with pytest.raises(errors.UserError) as info:
      datasets.load(name, tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value), name
  for name in ("tfds:mnist", "tfds:emnist/byclass:3.1.0", "tfds:cifar100#coarse_label",
               "svhn", "tfds:cifar10_corrupted/fog_2"):
    datasets.check_name(name)
  # Prepared, but as TFRecord (which TFDS cannot write without TensorFlow: the
  # format is changed in the data set's info).
  features = {"image": tfds.features.Image(shape=(4, 4, 1)),
              "label": tfds.features.ClassLabel(num_classes=2)}
  builder = _prepare_tfds(tmp_path / "tfds", "JaxmemTfrecord", "1.0.0", features,
                          {"train": [(0, {"image": _png(1, (4, 4, 1)), "label": 1})],
                           "test": [(0, {"image": _png(2, (4, 4, 1)), "label": 0})]})
  info_file = pathlib.Path(builder.data_dir) / "dataset_info.json"
  info_file.write_text(info_file.read_text().replace('"array_record"', '"tfrecord"'))
  with pytest.raises(errors.UserError, match="as tfrecord, which only TensorFlow "
                     "reads; prepare it with TFDS"):
    datasets.load("tfds:jaxmem_tfrecord", tmp_path)


def test_tfds_split_names(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  features = {"image": tfds.features.Image(shape=(4, 4, 1)),
              "label": tfds.features.ClassLabel(num_classes=2)}
  one = lambda: [(0, {"image": _png(1, (4, 4, 1)), "label": 1})]
  _prepare_tfds(tmp_path / "tfds", "JaxmemTrainOnly", "1.0.0", features,
                {"train": one(), "extra": one()})
  with pytest.raises(errors.UserError, match="tfds:jaxmem_train_only has the splits "
                     "(train, extra|extra, train); jaxmem needs a 'train' split and a "
                     "'test' \\(or else 'validation'\\) split"):
    datasets.load("tfds:jaxmem_train_only", tmp_path)


def test_loading_logs_nothing_and_describe_names_the_source(tmp_path, caplog):
  """TFDS's probes say nothing (they used to add three lines to every CIFAR-10
  run, one that data was prepared "in the FileFormat.TFRECORD format"): absl
  gets no record (TFDS's or jaxmem's); `describe` is the line a run logs."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  _write_tiny_cifar10(tmp_path / cifar10_jpeg.TARBALL, mtime=1e9)
  (tmp_path / "cscores").mkdir()
  np.savez(tmp_path / cifar10_jpeg.RELEASED_LABELS, labels=np.tile(np.arange(10), 2))
  features = {"image": tfds.features.Image(shape=(4, 4, 1)),
              "label": tfds.features.ClassLabel(num_classes=2)}
  one = lambda: [(0, {"image": _png(1, (4, 4, 1)), "label": 1})]
  _prepare_tfds(tmp_path / "tfds", "JaxmemQuiet", "1.0.0", features,
                {"train": one(), "test": one()})
  previous = logging.get_verbosity()
  logging.set_verbosity(logging.DEBUG)
  try:
    for name, n in (("cifar10", 20), ("tfds:jaxmem_quiet", 1)):
      caplog.clear()
      with caplog.at_level("DEBUG"):
        ds = datasets.load(name, tmp_path)
      assert not [r.getMessage() for r in caplog.records if r.name == "absl"]
      assert datasets.describe(ds) == (
          f"{name}: {n} train / {n} test examples from {ds.source}")
    assert ds.source.startswith(  # pylint: disable-next=undefined-loop-variable
        f"tfds:jaxmem_quiet (jaxmem_quiet/1.0.0 in {tmp_path}/tfds/")
    (tmp_path / "tfds" / "cifar100" / "3.0.2").mkdir(parents=True)
    caplog.clear()
    with caplog.at_level("DEBUG"), pytest.raises(errors.UserError):
      datasets.load("tfds:cifar100", tmp_path)  # TFDS would warn of the folder.
    assert not [r for r in caplog.records if r.name == "absl"]
  finally:
    logging.set_verbosity(previous)


def test_digits():
  ds = datasets.load("digits")
  _check_split(ds.train, 1437, (8, 8, 1))
  assert ds.test.images.shape == (360, 8, 8, 1)
  np.testing.assert_array_equal(ds.test.index, np.arange(1437, 1797))
  assert ds.source == "sklearn.load_digits"
  images = sklearn_datasets.load_digits().images
  np.testing.assert_allclose(ds.test.images[0, ..., 0], images[1437] / 16)


def test_synthetic_is_determined_by_its_seed():
  options = dict(num_train=64, num_test=16, shape=(4, 4, 3), num_classes=5)
  a = datasets.load("synthetic", synthetic=options)
  b = datasets.load("synthetic", synthetic=options)
  c = datasets.load("synthetic", synthetic={**options, "seed": 1})
  assert a.train.images.shape == (64, 4, 4, 3) and a.test.labels.shape == (16,)
  assert a.num_classes == 5 and set(a.train.labels) <= set(range(5))
  assert (a.source, c.source) == ("synthetic(seed=0)", "synthetic(seed=1)")
  np.testing.assert_array_equal(a.train.images, b.train.images)
  np.testing.assert_array_equal(a.test.labels, b.test.labels)
  assert not np.array_equal(a.train.images, c.train.images)
  with pytest.raises(errors.UserError, match="num_train"):
    datasets.load("synthetic", synthetic={"num_trian": 3})


def test_train_and_test_size_keep_the_first_examples():
  full = datasets.load("digits")
  ds = datasets.load("digits", train_size=100, test_size=10)
  assert datasets.describe(ds) == (
      "digits: 100 of 1437 train / 10 of 360 test examples from sklearn.load_digits")
  np.testing.assert_array_equal(ds.train.images, full.train.images[:100])
  np.testing.assert_array_equal(ds.test.index, np.arange(1437, 1447))
  with pytest.raises(errors.UserError, match="1437"):
    datasets.load("digits", train_size=1438)


def test_train_indices_keep_the_listed_examples(tmp_path):
  full = datasets.load("digits", train_size=100)
  path = tmp_path / "keep.npy"
  np.save(path, np.array([7, 3, 99]))
  ds = datasets.load("digits", train_size=100, train_indices=str(path))
  np.testing.assert_array_equal(ds.train.index, [3, 7, 99])
  np.testing.assert_array_equal(ds.train.labels, full.train.labels[[3, 7, 99]])
  assert "sha256" in ds.source and str(path) in ds.source
  assert len(ds.test.labels) == len(full.test.labels)
  for bad in (np.array([3, 3]), np.array([100]), np.array([-1]), np.array([0.5]),
              np.zeros((2, 2), int)):
    np.save(path, bad)
    with pytest.raises(errors.UserError, match="0..99"):
      datasets.load("digits", train_size=100, train_indices=str(path))
  with pytest.raises(errors.UserError, match="cannot read"):
    datasets.load("digits", train_indices=str(tmp_path / "missing.npy"))


def test_unknown_dataset_lists_valid_names():
  with pytest.raises(errors.UserError) as info:
    datasets.load("imagenet")
  assert all(name in str(info.value) for name in datasets.DATASETS)


def test_loaded_labels_are_checked(monkeypatch):
  bad = base.make_split(np.zeros((3, 2, 2, 1)), np.array([0, 1, 10]))
  monkeypatch.setitem(datasets.DATASETS, "bad", lambda data_dir: (
      datasets.Dataset("bad", bad, bad, 10, "bad-source")))
  with pytest.raises(errors.UserError, match="bad-source"):
    datasets.load("bad")


def test_resolve_data_dir(monkeypatch, tmp_path):
  assert datasets.resolve_data_dir(str(tmp_path)) == tmp_path
  monkeypatch.setenv("JAXMEM_DATA_DIR", str(tmp_path / "env"))
  assert datasets.resolve_data_dir(None) == tmp_path / "env"
  monkeypatch.delenv("JAXMEM_DATA_DIR")
  default = pathlib.Path.home() / ".cache" / "jaxmem"
  assert datasets.resolve_data_dir(None) == default


def test_missing_usps_offline_names_the_folder(tmp_path):
  with pytest.raises(errors.UserError) as info:
    datasets.load("usps", tmp_path)
  message = str(info.value)
  assert str(tmp_path / "usps") in message and "zip.train.gz" in message
  assert "JAXMEM_OFFLINE" in message and "\n" not in message


@pytest.mark.parametrize("corruption", ["cut_row", "bad_label", "cut_gzip"])
def test_corrupt_usps_file_is_named(tmp_path, corruption):
  original = (SHARED / "usps" / "zip.train.gz").read_bytes()
  lines = gzip.decompress(original).decode().splitlines()[:50]
  if corruption == "cut_row":
    data = gzip.compress("\n".join(lines)[:-400].encode())
  elif corruption == "bad_label":
    lines[7] = "12 " + lines[7].split(" ", 1)[1]
    data = gzip.compress("\n".join(lines).encode())
  else:
    data = original[:len(original) // 2]
  (tmp_path / "usps").mkdir()
  test_file = (SHARED / "usps" / "zip.test.gz").read_bytes()
  (tmp_path / "usps" / "zip.test.gz").write_bytes(test_file)
  path = tmp_path / "usps" / "zip.train.gz"
  path.write_bytes(data)
  with pytest.raises(errors.UserError, match=_names(path)) as info:
    datasets.load("usps", tmp_path)
  assert "\n" not in str(info.value)


def test_usps_download(monkeypatch, tmp_path):
  monkeypatch.delenv("JAXMEM_OFFLINE")
  requested = []

  def urlopen(url, timeout):
    requested.append((url, timeout))
    return io.BytesIO((SHARED / "usps" / url.rsplit("/", 1)[1]).read_bytes())

  monkeypatch.setattr(urllib.request, "urlopen", urlopen)
  ds = datasets.load("usps", tmp_path)
  files = ["zip.train.gz", "zip.test.gz"]
  assert requested == [(builtin.USPS_URL + f, 20) for f in files]
  assert len(ds.train.labels) == 7291 and len(ds.test.labels) == 2007
  assert sorted(p.name for p in (tmp_path / "usps").iterdir()) == sorted(files)


def test_failed_usps_download_leaves_no_file(monkeypatch, tmp_path):
  monkeypatch.delenv("JAXMEM_OFFLINE")

  def urlopen(url, timeout):
    raise urllib.error.URLError("no route to host")

  monkeypatch.setattr(urllib.request, "urlopen", urlopen)
  with pytest.raises(errors.UserError, match="download failed.*no route"):
    datasets.load("usps", tmp_path)
  assert not list((tmp_path / "usps").iterdir())
