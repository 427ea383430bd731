"""Time to fit per lane (Zhang et al. 2017, Figure 1b).

The first epoch at whose end the training accuracy on the labels a lane trains
on reaches a threshold (default 1.0), and its slowdown relative to the lanes
trained on uncorrupted data with the same seed index.
"""

import numpy as np


def time_to_fit(rows: list[dict], threshold: float = 1.0,
                steps_per_epoch: int | None = None) -> dict[int, dict]:
  """Returns, per lane, the epoch (and step) at which it fitted its training set.

  Args:
    rows: metrics.jsonl's rows.
    threshold: the training accuracy (a fraction) that counts as fitted.
    steps_per_epoch: if given, also the step count at the end of that epoch.

  Returns:
    {lane: {"epoch": int or None (never), "step": int or None}}.
  """
  fitted: dict[int, dict] = {}
  for row in sorted(rows, key=lambda r: (r["lane"], r["epoch"])):
    lane = fitted.setdefault(row["lane"], dict(epoch=None, step=None))
    acc = row.get("train_acc")
    if lane["epoch"] is None and acc is not None and acc >= threshold:
      lane["epoch"] = row["epoch"]
      if steps_per_epoch:
        lane["step"] = row["epoch"] * steps_per_epoch
  return fitted


def slowdown(fitted: dict[int, dict], seed: dict[int, int],
             clean: dict[int, bool]) -> dict[int, float | None]:
  """Each lane's time to fit divided by that of the clean lanes of its seed.

  Args:
    fitted: time_to_fit's result.
    seed: lane -> seed index.
    clean: lane -> whether it trains on uncorrupted labels and inputs.

  Returns:
    lane -> ratio (None where either side never fitted).
  """
  baseline = {}
  for s in set(seed.values()):
    times = [fitted[l]["epoch"] for l in fitted if seed[l] == s and clean[l]]
    if times and all(t is not None for t in times):
      baseline[s] = float(np.mean(times))
  return {l: (fitted[l]["epoch"] / baseline[seed[l]]
              if fitted[l]["epoch"] is not None and seed[l] in baseline else None)
          for l in fitted}
