"""Tests of jaxmem.datasets on the real offline data and on small made files."""

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

# Read before any test changes the environment; CI sets it relative to the repo.
SHARED = pathlib.Path(
    os.environ.get("JAXMEM_DATA_DIR")
    or pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
).absolute()
CIFAR10_JPEG = SHARED / "cifar10-jpeg" / "cifar10-jpeg-q75.tar.gz"
# Per-class training counts published with the ESL copy of USPS.
USPS_TRAIN_COUNTS = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch, tmp_path):
  """No test downloads, touches the user's cache or reads $JAXMEM_DATA_DIR."""
  monkeypatch.setenv("JAXMEM_OFFLINE", "1")
  monkeypatch.setenv("JAXMEM_CACHE_DIR", str(tmp_path / "cache"))
  monkeypatch.delenv("JAXMEM_DATA_DIR", raising=False)


def _no_tfds(monkeypatch):
  """Makes TFDS find nothing prepared, whatever this machine has prepared."""
  monkeypatch.setattr(datasets, "_read_tfds", lambda name, data_dir: None)


def _names(path):
  return re.escape(str(path))


def _check_split(split, n, shape, num_classes=10):
  assert split.images.shape == (n, *shape)
  assert split.images.dtype == np.float32 and split.labels.dtype == np.int32
  assert 0 <= split.images.min() and split.images.max() <= 1
  assert set(np.unique(split.labels)) == set(range(num_classes))
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


@pytest.fixture(scope="module")
def cifar10_twice(tmp_path_factory):
  """Loads the real JPEG CIFAR-10 twice, counting decodes (7 s or more each)."""
  decodes = []
  decode = datasets._decode_cifar10_tarball
  cache = tmp_path_factory.mktemp("cifar_cache")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("JAXMEM_CACHE_DIR", str(cache))
    _no_tfds(mp)
    mp.setattr(datasets, "_decode_cifar10_tarball",
               lambda path: decodes.append(path) or decode(path))
    first = datasets.load("cifar10", SHARED)
    decodes_after_first = len(decodes)
    second = datasets.load("cifar10", SHARED)
  return first, second, (decodes_after_first, len(decodes)), cache


def test_cifar10_jpeg(cifar10_twice):
  ds = cifar10_twice[0]
  assert ds.source == str(CIFAR10_JPEG)
  _check_split(ds.train, 50000, (32, 32, 3))
  _check_split(ds.test, 10000, (32, 32, 3))
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


def test_cifar10_second_load_reads_the_cache(cifar10_twice):
  first, second, decodes, cache = cifar10_twice
  assert decodes == (1, 1)
  assert len(list(cache.glob("cifar10-jpeg-*.npz"))) == 1
  for a, b in [(first.train, second.train), (first.test, second.test)]:
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.labels, b.labels)


def _write_tiny_cifar10(path, mtime):
  """Two images per class and split, added to the tar in reverse order."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with tarfile.open(path, "w:gz") as tar:
    for split in ("test", "train"):
      for label, name in reversed(list(enumerate(datasets._CIFAR10_CLASSES))):
        for number in (1, 0):
          jpeg = io.BytesIO()
          pixel = 20 * label + 5 * number
          Image.new("RGB", (32, 32), (pixel,) * 3).save(jpeg, format="JPEG")
          info = tarfile.TarInfo(f"{split}/{name}/{number:04d}.jpg")
          info.size = len(jpeg.getvalue())
          tar.addfile(info, io.BytesIO(jpeg.getvalue()))
  os.utime(path, (mtime, mtime))


def test_cifar10_order_and_cache_key(monkeypatch, tmp_path):
  _no_tfds(monkeypatch)
  decodes = []
  decode = datasets._decode_cifar10_tarball
  monkeypatch.setattr(datasets, "_decode_cifar10_tarball",
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
  os.utime(path, (2e9, 2e9))  # A replaced tarball must not be read from cache.
  datasets.load("cifar10", tmp_path)
  assert len(decodes) == 2


def test_cifar10_without_any_source_names_the_path(monkeypatch, tmp_path):
  _no_tfds(monkeypatch)
  with pytest.raises(errors.UserError) as info:
    datasets.load("cifar10", tmp_path)
  message = str(info.value)
  assert str(tmp_path / "cifar10-jpeg" / "cifar10-jpeg-q75.tar.gz") in message
  assert "tfds build cifar10" in message and "\n" not in message


def test_fashion_mnist_from_debian_package(tmp_path):
  assert datasets._DEBIAN_FASHION_MNIST.exists(), (
      "real Fashion-MNIST is missing: apt-get install -y dataset-fashion-mnist")
  ds = datasets.load("fashion_mnist", tmp_path)
  assert ds.source == str(datasets._DEBIAN_FASHION_MNIST)
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


@pytest.mark.parametrize("name, shape",
                         [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tfds_under_mock_data(tmp_path, name, shape):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  policy = tfds.testing.MockPolicy.USE_CODE
  with tfds.testing.mock_data(num_examples=6, policy=policy):
    ds = datasets.load(name, tmp_path)
  assert ds.source == f"tfds:{name}"
  for split in (ds.train, ds.test):
    assert split.images.shape == (6, *shape)
    assert split.images.dtype == np.float32 and split.labels.dtype == np.int32
    assert 0 <= split.images.min() and split.images.max() <= 1
    assert np.all(split.labels < 10)


def test_tfds_array_record_reads_without_tensorflow(tmp_path):
  """A real, tiny array_record `mnist` in <data_dir>/tfds, read unmocked."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  def examples(n):
    for i in range(n):
      png = io.BytesIO()  # Encoded here: TFDS needs TensorFlow to encode.
      Image.fromarray(np.full((28, 28), 20 * i, np.uint8)).save(png, "PNG")
      png.seek(0)
      yield i, {"image": png, "label": i % 10}

  with tfds.core.registered.skip_registration():

    class Mnist(tfds.core.GeneratorBasedBuilder):
      VERSION = tfds.core.Version("3.0.1")  # The registered mnist's version.

      def _info(self):
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(28, 28, 1)),
            "label": tfds.features.ClassLabel(num_classes=10)})
        return tfds.core.DatasetInfo(builder=self, features=features)

      def _split_generators(self, dl_manager):
        return {"train": examples(12), "test": examples(5)}

      def _generate_examples(self):
        raise NotImplementedError

  builder = Mnist(data_dir=tmp_path / "tfds", file_format="array_record")
  builder.download_and_prepare()
  ds = datasets.load("mnist", tmp_path)
  assert ds.source == "tfds:mnist"
  assert ds.train.images.shape == (12, 28, 28, 1)
  assert ds.test.images.shape == (5, 28, 28, 1)
  # TFDS shuffles examples when preparing; each image still matches its label.
  example = np.round(ds.train.images[:, 0, 0, 0] * 255 / 20).astype(int)
  assert sorted(example) == list(range(12))
  np.testing.assert_array_equal(ds.train.labels, example % 10)


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
  bad = datasets._split(np.zeros((3, 2, 2, 1)), np.array([0, 1, 10]))
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
  assert requested == [(datasets._USPS_URL + f, 20) for f in files]
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
