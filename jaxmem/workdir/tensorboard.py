"""Optional TensorBoard curves, written with tensorboardX (no TensorFlow needed).

With `config.tensorboard=True` (and `pip install -e '.[tensorboard]'`), a run
writes `<workdir>/tensorboard/` as it trains: every lane's metrics under
`lane_<i>/<metric>`, and the mean and std over the seeds of each grid point
under `<point>/<metric>/mean` and `.../std` (a point reads like
`label_corruption_1.0`, axes joined by `__`). Look with

  tensorboard --logdir runs/<experiment>

(several runs side by side: `--logdir runs/`). The files are append-only
TensorBoard event files; a resumed run appends the epochs after its
checkpoint again, and TensorBoard keeps the newest value of a step.
"""

import numpy as np

from jaxmem import errors

# The metrics.jsonl columns drawn.
SCALARS = ("train_loss", "train_acc", "train_acc_clean", "test_loss", "test_acc",
           "holdout_acc", "step_loss", "step_acc", "critical_ratio")


def _point_label(coords: dict) -> str:
  """A grid point as a tag, in the characters TensorBoard keeps: label_corruption_1.0."""
  return "__".join(f"{k}_{v}" for k, v in coords.items()) or "all"


class Writer:
  """Writes one run's curves; `add(epoch, rows)` after every epoch."""

  def __init__(self, folder, lanes):
    try:
      import tensorboardX  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise errors.UserError(
          "config.tensorboard=True needs tensorboardX: pip install -e "
          "'.[tensorboard]' (or pip install tensorboardX)") from None
    self._writer = tensorboardX.SummaryWriter(str(folder))
    self._lanes = lanes

  def add(self, epoch: int, rows: list[dict]) -> None:
    points = {}
    for row in rows:
      for metric in SCALARS:
        value = row.get(metric)
        if value is None:
          continue
        self._writer.add_scalar(f"lane_{row['lane']}/{metric}", value, epoch)
        if not row["diverged"]:
          label = _point_label(self._lanes.coords[row["lane"]])
          points.setdefault((label, metric), []).append(value)
    for (label, metric), values in points.items():
      self._writer.add_scalar(f"{label}/{metric}/mean", float(np.mean(values)), epoch)
      if len(values) > 1:
        self._writer.add_scalar(f"{label}/{metric}/std",
                                float(np.std(values, ddof=1)), epoch)
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()
