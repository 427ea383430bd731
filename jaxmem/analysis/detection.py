"""Finding mislabelled examples: how well each score ranks the corrupted labels.

A run with label corruption knows, in every lane, which labels it corrupted
(examples.npz `corrupted`): the ground truth that label-error detectors
(AUM, cleanlab, data maps) lack on real data. For each score, AUROC and
average precision (scikit-learn's `roc_auc_score`, `average_precision_score`)
of the score at finding them, over the examples the lane trained on (not its
AUM threshold samples):

  per lane      each lane's score against its own corrupted labels, then the
                mean and the sample std (ddof=1) over the lanes: the seed
                spread a single run would not show;
  pooled        the score averaged over the group's lanes (the table's mean,
                as data_diet averages EL2N over initializations), against the
                labels they share; only where every lane trained on the same
                corrupted labels (config.corruption_draw="shared": one noisy
                data set, many seeds; each lane's own threshold samples and
                held-out examples aside), else NaN.

Each score is signed so that larger means "more likely mislabelled" (AUM,
confidence and the C-score enter negated); an AUROC under 0.5 means the
score ranks the other way. Average precision's chance level is the noise
rate (`rate`).
"""

import dataclasses

import numpy as np
from sklearn import metrics

from jaxmem.analysis import table

# per_lane() measure -> sign (larger signed = more suspect).
SCORES = {"forgetting": 1, "first_learned": 1, "aum": -1, "confidence": -1,
          "variability": -1, "correctness": -1, "loss": 1, "entropy": 1,
          "depth": 1, "aum_flagged": 1}
AT_EPOCHS = ("el2n_e", "grand_e")  # Recorded at chosen epochs: larger = suspect.


@dataclasses.dataclass
class Detection:
  """One group's detection table."""
  rate: float  # The fraction of corrupted labels among the examples judged.
  lanes: int  # Lanes judged.
  shared: bool  # Whether every lane trained on the same corrupted labels.
  rows: list[dict]  # {score, auroc_mean, auroc_std, ap_mean, ap_std,
  #                    pooled_auroc, pooled_ap} per score.


def _judge(truth: np.ndarray, score: np.ndarray) -> tuple[float, float]:
  keep = np.isfinite(score)
  truth, score = truth[keep], score[keep]
  if truth.all() or not truth.any():
    return float("nan"), float("nan")
  return (float(metrics.roc_auc_score(truth, score)),
          float(metrics.average_precision_score(truth, score)))


def _spread(values: list[float]) -> tuple[float, float]:
  values = np.asarray([v for v in values if np.isfinite(v)])
  if not len(values):
    return float("nan"), float("nan")
  return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def signed_scores(per_lane: dict[str, np.ndarray]) -> dict[str, int]:
  """The scores of per_lane() present, with their signs."""
  found = {n: s for n, s in SCORES.items() if n in per_lane}
  found.update({n: 1 for n in per_lane if n.startswith(AT_EPOCHS)})
  return found


def detect(per_lane: dict[str, np.ndarray], cscore: np.ndarray | None = None
           ) -> Detection | None:
  """The detection table of one group of lanes; None without corrupted labels.

  Args:
    per_lane: table.per_lane()'s measures of the group's lanes (pooled over
      its workdirs): [L, N] each, with `mask` and `corrupted`.
    cscore: float [N], the group's C-scores (judged pooled only: a C-score is
      an estimate over lanes already), or None.
  """
  mask, corrupted = per_lane["mask"], per_lane["corrupted"]
  if not (corrupted & mask).any():
    return None
  # The labels the lanes share, where they judge an example.
  truth, judged_by_any = (corrupted & mask).any(axis=0), mask.any(axis=0)
  shared = bool(((corrupted == truth[None]) | ~mask).all())
  rows = []
  for name, sign in signed_scores(per_lane).items():
    values = sign * np.asarray(per_lane[name], np.float64)
    judged = [_judge(corrupted[l][mask[l]], values[l][mask[l]]) for l in range(len(mask))]
    row = dict(score=name)
    row["auroc_mean"], row["auroc_std"] = _spread([a for a, _ in judged])
    row["ap_mean"], row["ap_std"] = _spread([p for _, p in judged])
    row["pooled_auroc"] = row["pooled_ap"] = float("nan")
    if shared:
      mean = table.lane_stats(values, mask)[0]  # The table's mean over lanes.
      row["pooled_auroc"], row["pooled_ap"] = _judge(truth[judged_by_any],
                                                     mean[judged_by_any])
    rows.append(row)
  if cscore is not None and shared:
    auroc, ap = _judge(truth[judged_by_any], -np.asarray(cscore)[judged_by_any])
    rows.append(dict(score="cscore", auroc_mean=float("nan"), auroc_std=float("nan"),
                     ap_mean=float("nan"), ap_std=float("nan"), pooled_auroc=auroc,
                     pooled_ap=ap))
  rate = float(corrupted[mask].mean())
  return Detection(rate=rate, lanes=len(mask), shared=shared, rows=rows)


def markdown(found: Detection) -> str:
  """The table in Markdown: mean +- std over lanes, and pooled."""
  pm = lambda m, s: "n/a" if not np.isfinite(m) else (
      f"{m:.3f}" if not np.isfinite(s) else f"{m:.3f} ± {s:.3f}")
  one = lambda v: f"{v:.3f}" if np.isfinite(v) else "n/a"
  lines = [f"{found.lanes} lanes; {100 * found.rate:.1f}% of the labels corrupted "
           f"(average precision's chance level); pooled: scores averaged over the "
           f"lanes{'' if found.shared else ' (n/a: the lanes trained on different corrupted labels)'}",
           "", "| score | AUROC per lane | AP per lane | AUROC pooled | AP pooled |",
           "|---|---|---|---|---|"]
  lines += [f"| {r['score']} | {pm(r['auroc_mean'], r['auroc_std'])} | "
            f"{pm(r['ap_mean'], r['ap_std'])} | {one(r['pooled_auroc'])} | "
            f"{one(r['pooled_ap'])} |" for r in found.rows]
  return "\n".join(lines)
