"""The optional per-epoch history: every example's record in every epoch.

The accumulators of jaxmem.measures hold what the usual analyses need in
O(lanes x N), whatever the number of epochs. Some studies want the whole
trajectory; `config.record_history` then keeps, outside the checkpoints, in
`<workdir>/history/` (zarr arrays written with tensorstore, which Orbax already
installs; any zarr reader opens them lazily):

  train_pred  int [L, E, N]  each training example's prediction after epoch e
  test_pred   int [L, E, M]  the same for the test split
  presented   int8 [L, E, N] correctness when presented in epoch e (-1: not)

and, when the run records presentation scores (config.scores.names: aum,
data_map, loss, entropy), the values of that presentation (NaN: not
presented), float32 [L, E, N] each (jaxmem.steps.per_example):

  margin      the trained label's logit minus the largest other
  prob        the trained label's softmax probability
  loss        the example's loss
  entropy     the softmax's entropy

Predictions are written for the epochs the splits are evaluated (others hold
-1). Each epoch is its own chunk, and `epochs.json` says how many epochs are
complete: it is written after an epoch's chunks, so a crash mid-append leaves
a store whose counter ignores the torn epoch, and a resume cuts the counter
back to the checkpoint's epoch and writes on from there.

"auto" turns it on when the history would take less than AUTO_LIMIT bytes.
"""

import json
import pathlib

import numpy as np
import tensorstore as ts

from jaxmem.workdir import files

AUTO_LIMIT = 256 * 2**20
FIELDS = ("train_pred", "test_pred", "presented")
SCORES = ("margin", "prob", "loss", "entropy")  # steps.PRESENTATION's, if recorded.


def size(num_lanes: int, num_epochs: int, num_train: int, num_test: int,
         num_scores: int = 0) -> int:
  """Bytes the history of a run takes, uncompressed, with `num_scores`
  float32 presentation scores."""
  return num_lanes * num_epochs * ((2 + 4 * num_scores) * num_train + num_test)


def wanted(config, num_lanes: int, num_train: int, num_test: int,
           num_scores: int = 0) -> bool:
  """Whether config.record_history asks for it ("auto": if small enough)."""
  if config.record_history == "auto":
    return size(num_lanes, config.num_epochs, num_train, num_test,
                num_scores) < AUTO_LIMIT
  return config.record_history == "on"


def _spec(path: pathlib.Path, shape=None, dtype=None) -> dict:
  spec = {"driver": "zarr", "kvstore": {"driver": "file", "path": str(path)}}
  if shape is not None:
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    spec["metadata"] = {
        "shape": list(shape), "dtype": np.dtype(dtype).str,
        "fill_value": "NaN" if floating else -1,
        "chunks": [min(shape[0], 64), 1, min(shape[2], 2**16)],
        "compressor": {"id": "zstd", "level": 3}}
  return spec


class Store:
  """The history of one run, appended epoch by epoch."""

  def __init__(self, folder: pathlib.Path, num_lanes: int, num_epochs: int,
               num_train: int, num_test: int, dtype, scores: tuple[str, ...] = ()):
    self.folder = pathlib.Path(folder)
    shapes = dict(train_pred=(num_lanes, num_epochs, num_train),
                  test_pred=(num_lanes, num_epochs, num_test),
                  presented=(num_lanes, num_epochs, num_train),
                  **{k: (num_lanes, num_epochs, num_train) for k in scores})
    dtypes = dict(train_pred=dtype, test_pred=dtype, presented=np.int8,
                  **{k: np.float32 for k in scores})
    self.arrays = {
        name: ts.open(_spec(self.folder / name, shapes[name], dtypes[name]),
                      create=True, open=True).result()
        for name in shapes}

  def epochs(self) -> int:
    """How many epochs are complete."""
    try:
      return json.loads((self.folder / "epochs.json").read_text())["epochs"]
    except (FileNotFoundError, ValueError, KeyError):
      return 0

  def truncate(self, epochs: int) -> None:
    """Forgets what lies beyond `epochs` (it will be written again)."""
    if self.epochs() != epochs:
      files.atomic_write(self.folder / "epochs.json",
                           json.dumps(dict(epochs=epochs)).encode())

  def append(self, epoch: int, values: dict[str, np.ndarray]) -> None:
    """Writes epoch `epoch` (1-based): {field: [L, N or M]}; missing fields
    (splits not evaluated) stay -1."""
    for name, value in values.items():
      self.arrays[name][:, epoch - 1, :].write(np.asarray(value)).result()
    files.atomic_write(self.folder / "epochs.json",
                         json.dumps(dict(epochs=epoch)).encode())


def open_history(folder) -> dict:
  """A finished run's history, lazily: {field: tensorstore array [L, E, .]},
  cut to its complete epochs (read slices with `[...].read().result()`)."""
  folder = pathlib.Path(folder)
  epochs = json.loads((folder / "epochs.json").read_text())["epochs"]
  names = FIELDS + tuple(k for k in SCORES if (folder / k).is_dir())
  return {name: ts.open(_spec(folder / name)).result()[:, :epochs, :]
          for name in names}
