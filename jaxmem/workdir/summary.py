"""Final numbers per lane, mean +- std over seeds per grid point, and the table.

Rates are fractions in [0, 1] everywhere in files; the printed table shows
percentages. The standard deviation is over seeds (ddof=1), so a grid point
with one seed has none. Lanes that diverged are left out and counted.
"""

import numpy as np

METRICS = ("train_acc", "train_acc_clean", "test_acc", "train_loss", "test_loss",
           "holdout_acc")  # holdout: the training examples a lane left out.
_TABLE = (("train_acc", "train acc %"), ("train_acc_clean", "clean train acc %"),
          ("test_acc", "test acc %"))


def _stats(values: np.ndarray) -> dict:
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values)]  # holdout_acc where nothing is held out.
  if not len(values):
    return dict(mean=None, std=None, n=0)
  std = float(values.std(ddof=1)) if len(values) > 1 else None
  return dict(mean=float(values.mean()), std=std, n=int(len(values)))


def summarize(lanes, final: dict[str, np.ndarray], diverged_epoch: np.ndarray,
              extra: dict | None = None) -> dict:
  """Builds summary.json's content.

  Args:
    lanes: the run's `jaxmem.lanes.Lanes`.
    final: metric name -> float [L], each lane's value after the last epoch.
    diverged_epoch: int [L], the epoch in which each lane's loss stopped being
      finite, or -1. Diverged lanes are left out of means and standard
      deviations, and counted.
    extra: more top-level fields (e.g. wall times).

  Returns:
    {"lanes": [per lane: identity, final metrics, diverged, diverged_epoch],
    "points": [per grid point: its coordinates, {metric: {mean, std, n}} over
    its finite lanes, and the number of diverged lanes], **extra}.
  """
  diverged = np.asarray(diverged_epoch) >= 0
  per_lane = [dict(lanes.describe(i),
                   **{m: (float(final[m][i]) if np.isfinite(final[m][i]) else None)
                      for m in final},
                   diverged=bool(diverged[i]),
                   diverged_epoch=int(diverged_epoch[i]) if diverged[i] else None)
              for i in range(len(lanes))]
  points = []
  for p in np.unique(lanes.point):
    members = np.flatnonzero(lanes.point == p)
    kept = members[~diverged[members]]
    points.append(dict(coords=lanes.coords[members[0]],
                       **{m: _stats(final[m][kept]) for m in final},
                       diverged=int(diverged[members].sum())))
  return dict(lanes=per_lane, points=points,
              diverged_lanes=int(diverged.sum()), **(extra or {}))


def _cell(stats: dict) -> str:
  if stats["mean"] is None:
    return "-"
  if stats["std"] is None:
    return f"{100 * stats['mean']:.2f}"
  return f"{100 * stats['mean']:.2f} +- {100 * stats['std']:.2f}"


def rows(summary: dict) -> tuple[list[str], list[list[str]]]:
  """The grid points as a table's header and rows of cells (accuracies in %)."""
  points = summary["points"]
  axes = list(points[0]["coords"]) if points else []
  header = axes + ["seeds"] + [title for _, title in _TABLE]
  seeds = lambda p: str(p["test_acc"]["n"]) + (
      f" ({p['diverged']} diverged)" if p.get("diverged") else "")
  return header, [[str(p["coords"][a]) for a in axes] + [seeds(p)]
                  + [_cell(p[m]) for m, _ in _TABLE] for p in points]


def table(summary: dict) -> str:
  """The grid points as an aligned text table (accuracies in %)."""
  header, body = rows(summary)
  widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
  line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
  return "\n".join([line(header), line(["-" * w for w in widths])]
                   + [line(r) for r in body])


def markdown(summary: dict) -> str:
  """The grid points as a Markdown table (accuracies in %)."""
  header, body = rows(summary)
  return "\n".join(["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
                   + ["| " + " | ".join(r) + " |" for r in body])
