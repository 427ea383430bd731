"""Optional TensorBoard curves, written with tensorboardX (no TensorFlow needed).

TensorBoard compares runs in one chart, so with `config.tensorboard=True` (and
`pip install -e '.[tensorboard]'`) a run writes, under `<workdir>/tensorboard/`,
one TensorBoard run per grid point, named by its values
(`label_corruption=0.5`, `condition=random_labels`), whose tags are the metrics
over its seeds: `test_acc/mean`, `test_acc/std`, ... The grid points of a
metric then overlay in one chart. Each point's run also carries its values as
HParams (the grid's axes and every per-lane value), for TensorBoard's HParams
dashboard. With `config.tensorboard_lanes=True`, each lane gets a run of its
own under its point's (`<point>/lane_<i>`, tags `test_acc`, ...). Look with

  tensorboard --logdir runs/<experiment>/tensorboard

The files are append-only event files; a resumed run appends the epochs after
its checkpoint again, and TensorBoard keeps the newest value of a step.
"""

import numpy as np

from jaxmem import errors

# The metrics.jsonl columns drawn.
SCALARS = ("train_loss", "train_acc", "train_acc_clean", "test_loss", "test_acc",
           "holdout_acc", "step_loss", "step_acc", "critical_ratio")


def run_name(coords: dict) -> str:
  """A grid point as a TensorBoard run (a folder's name): `a=1,b=x`."""
  return ",".join(f"{k}={v}" for k, v in coords.items()) or "all_lanes"


class Writer:
  """Writes one run's curves; `add(epoch, rows)` after every epoch."""

  def __init__(self, folder, lanes, per_lane: bool = False):
    try:
      import tensorboardX  # pylint: disable=g-import-not-at-top
      from tensorboardX import summary  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise errors.UserError(
          "config.tensorboard=True needs tensorboardX: pip install -e "
          "'.[tensorboard]' (or pip install tensorboardX)") from None
    self._lanes, self._summary = lanes, summary
    self._points, self._writers, self._lane_writers = {}, {}, {}
    for lane in range(len(lanes)):
      name = run_name(lanes.coords[lane])
      self._points.setdefault(name, []).append(lane)
      if per_lane:
        self._lane_writers[lane] = tensorboardX.SummaryWriter(
            str(folder / name / f"lane_{lane}"))
    metrics = {f"{m}/{s}": 0.0 for m in SCALARS for s in ("mean", "std")}
    for name, members in self._points.items():
      writer = tensorboardX.SummaryWriter(str(folder / name))
      experiment, start, _ = summary.hparams(self._hparams(members[0]), metrics)
      writer.file_writer.add_summary(experiment)
      writer.file_writer.add_summary(start)
      self._writers[name] = writer

  def _hparams(self, lane: int) -> dict:
    """A lane's grid values and every per-lane value, as HParams."""
    lanes = self._lanes
    values = {k: float(v[lane]) for k, v in lanes.hparams.items()}
    values.update(label_corruption=float(lanes.label_corruption[lane]),
                  input_corruption=lanes.input_kinds[lanes.input_code[lane]])
    values.update({k: v if isinstance(v, (int, float, str, bool)) else str(v)
                   for k, v in lanes.coords[lane].items()})
    return values

  def add(self, epoch: int, rows: list[dict]) -> None:
    """Writes an epoch's rows: each point's mean and std over its live lanes."""
    by_lane = {row["lane"]: row for row in rows}
    for name, members in self._points.items():
      for metric in SCALARS:
        values = [by_lane[l][metric] for l in members
                  if by_lane[l].get(metric) is not None and not by_lane[l]["diverged"]]
        if values:
          self._writers[name].add_scalar(f"{metric}/mean", float(np.mean(values)), epoch)
        if len(values) > 1:
          self._writers[name].add_scalar(f"{metric}/std", float(np.std(values, ddof=1)),
                                         epoch)
    for lane, writer in self._lane_writers.items():
      for metric in SCALARS:
        if by_lane[lane].get(metric) is not None:
          writer.add_scalar(metric, by_lane[lane][metric], epoch)
    for writer in (*self._writers.values(), *self._lane_writers.values()):
      writer.flush()

  def close(self) -> None:
    for writer in self._writers.values():
      writer.file_writer.add_summary(self._summary.hparams({}, {})[2])  # Session end.
    for writer in (*self._writers.values(), *self._lane_writers.values()):
      writer.close()
