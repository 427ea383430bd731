"""The difficulty table: one row per training example, every measure side by side.

Measures come per lane first ([L, N], with a mask of the lanes that count for
each example), so that the lanes of several runs over the same training set
(e.g. runs of different subset ratios) pool into one table. Training-history
measures count only the lanes that trained on the example and did not
diverge (and not where the lane made it an AUM threshold sample); hold-out
measures (`holdout`) the lanes that did not train on it. They are read from
examples.npz's accumulators (jaxmem.measures).

An example's difficulty is a property of one data distribution, so a table
pools only the lanes of one group: lanes that trained on the same labels
distribution and inputs (`group_name`). jaxmem.analysis.difficulty builds one
table per group; lanes that differ only in seed, hyperparameters, subset or
model pool, as Jiang et al. (2021) pool C-scores over subsets and seeds.

Columns (mean and std are over the lanes that count):
  index, clean_label       the example's index in its official order, its label;
  trained_label            the label most lanes trained it with;
  corrupted_frac           the fraction of lanes whose label was corrupted;
  lanes                    the lanes that trained on it;
  forgetting_mean/std      forgetting events (Toneva et al. 2019; never learned:
                           the number of epochs, as Toneva's code counts it);
  unforgettable_frac       lanes that learned it and never forgot it;
  first_learned_mean/std   first epoch in which a presentation was right
                           (Toneva's definition; never: epochs + 1);
  first_correct_mean/std   first evaluated epoch at whose end it is right
                           (never: epochs + 1);
  settled_mean/std         evaluated epoch from which its prediction stays;
  cumulative_acc_mean      accuracy on it averaged over the evaluations (the
                           learning-speed proxy of Jiang et al. 2021);
  error_epoch1             lanes wrong on it after epoch 1 (Arpit et al. 2017),
                           NaN where epoch 1 was not evaluated;
  final_error              lanes wrong on it after the last epoch;
  depth_mean/std           prediction depth (Baldock et al. 2021);
  critical_frac            lanes in which it is critical at the end (Arpit),
                           NaN where it was not searched;
  cscore/se                held-out accuracy averaged over the subset ratios
                           trained at (Jiang et al. 2021), for subset_ratio > 0;
                           the lanes of workdirs of one ratio pool into one
                           estimate; NaN where no lane held it out;
  cscore_runs, heldout_lanes  the ratios and lanes that held it out (coverage);
  memorization/se          accuracy when trained on minus when held out
                           (Feldman & Zhang 2020), averaged over those ratios;
  memorization_prob/se     the same for the label's final probability (their
                           second estimator; runs that kept it);
  aum_mean/std             area under the margin (Pleiss et al. 2020);
  aum_flagged_frac         lanes whose threshold samples flag it;
  confidence_mean/std, variability_mean/std, correctness_mean
                           data maps (Swayamdipta et al. 2020);
  loss_mean/std, entropy_mean/std   over its presentations;
  el2n_e{E}_mean/std, grand_e{E}_mean/std   EL2N and GraNd after epoch E (Paul
                           et al. 2021; E = 0: at initialization), the mean
                           over lanes being their average over initializations.
The scores are in jaxmem.measures.scores, where a run records them.
"""

import csv
import io
import pathlib

import numpy as np
import scipy.stats

from jaxmem.analysis import holdout
from jaxmem.datasets import pruning
from jaxmem.workdir import files

# The scores' per-lane records: {examples.npz record: table name}.
SCORES = {"aum": "aum", "confidence": "confidence", "variability": "variability",
          "mean_loss": "loss", "mean_entropy": "entropy"}


def hardness(cols: dict) -> dict[str, int]:
  """The columns of `cols` that rank difficulty, with their signs (1: grows
  with difficulty; -1: shrinks), as pruning ranks by them."""
  return {n: pruning.sign_of(n) for n in cols if pruning.sign_of(n) is not None}


def group_name(label_corruption: float, kind: str, input_corruption: str) -> str:
  """A group of lanes: its labels distribution and inputs, in words."""
  if label_corruption == 0:
    labels = "clean labels"
  elif label_corruption == 1 and kind == "uniform":
    labels = "random labels"
  else:
    labels = f"{kind} label noise {label_corruption:g}"
  return labels if input_corruption == "none" else \
      f"{labels}, {input_corruption.replace('_', ' ')}"


def per_lane(examples: dict[str, np.ndarray], depth: np.ndarray | None = None,
             critical: np.ndarray | None = None) -> dict[str, np.ndarray]:
  """One run's per-lane, per-example measures, each [L, N].

  Args:
    examples: the run's examples.npz.
    depth: int [L, N] prediction depths, or None (then examples' own, if any).
    critical: float [L, N], 1 critical, 0 not, NaN not searched; or None (then
      examples' own, if any).

  Returns:
    The measures, plus `mask` (bool [L, N]: the lane trained on the example
    and did not diverge) and the run's `labels`, `corrupted`.
  """
  epochs = int(examples["epochs"])
  never = lambda x: np.where(x > 0, x, epochs + 1).astype(np.float64)
  live = examples["diverged_epoch"] < 0
  epoch1 = examples["correct_epoch1"].astype(np.float64)
  mask = examples["in_subset"] & live[:, None]
  if "threshold_sample" in examples:
    mask = mask & ~examples["threshold_sample"]
  out = dict(mask=mask,
             labels=examples["labels"], corrupted=examples["corrupted"],
             forgetting=examples["forgetting"],
             unforgettable=examples["ever_learned"] & (examples["forgetting_events"] == 0),
             first_learned=never(examples["first_learned"]),
             first_correct=never(examples["first_correct"]),
             settled=examples["settled"],
             cumulative_acc=examples["train_correct_count"]
             / np.maximum(examples["evaluations"], 1)[:, None],
             error_epoch1=np.where(epoch1 >= 0, 1.0 - epoch1, np.nan),
             final_error=~examples["train_correct"])
  if depth is None and "depth" in examples:
    depth = examples["depth"]
  if depth is not None:
    out["depth"] = depth
  if critical is None and "critical" in examples:
    found = examples["critical"].astype(np.float64)
    critical = np.where(found >= 0, found, np.nan)
  if critical is not None:
    out["critical"] = critical
  for record, name in SCORES.items():
    if record in examples:
      out[name] = examples[record]
  if "aum_flagged" in examples:
    out["aum_flagged"] = examples["aum_flagged"]
  if "correctness" in examples:
    out["correctness"] = examples["correctness"]
  for record in examples:
    if record.startswith(("el2n_e", "grand_e")):
      out[record] = examples[record]
  return out


def lanes_of(per_lane: dict, keep: np.ndarray) -> dict:
  """per_lane()'s measures of the lanes in `keep` (bool [L])."""
  return {k: v[keep] for k, v in per_lane.items()}


def lane_stats(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and std (ddof=0) over the lanes in `mask`; NaN where none."""
  values = np.asarray(values, np.float64)
  mask = mask & np.isfinite(values)
  count = mask.sum(axis=0)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean = np.where(mask, values, 0).sum(axis=0) / count
    var = np.where(mask, (values - mean) ** 2, 0).sum(axis=0) / count
  return mean, np.sqrt(var)


def build(runs: list[dict[str, np.ndarray]], index: np.ndarray,
          clean_labels: np.ndarray, num_classes: int,
          holdout_runs: list[tuple] = ()) -> dict[str, np.ndarray]:
  """The table's columns, from the per_lane measures of one or more runs.

  Args:
    runs: per_lane() of each run, all over the same N training examples.
    index, clean_labels: int [N], the examples' original indices and labels.
    num_classes: C.
    holdout_runs: (final correctness [L, N], in_subset [L, N], final
      probability of the label [L, N] or None) of each subset ratio's lanes,
      for the hold-out columns; empty for none.
  """
  pooled = {k: np.concatenate([r[k] for r in runs]) for k in runs[0]
            if all(k in r for r in runs)}
  mask = pooled["mask"]
  classes = max(num_classes, int(pooled["labels"].max()) + 1)  # Threshold samples' too.
  counts = np.zeros((len(index), classes), np.int64)
  for labels in pooled["labels"]:
    counts[np.arange(len(index)), labels] += 1
  cols = dict(index=np.asarray(index), clean_label=np.asarray(clean_labels),
              trained_label=counts.argmax(axis=1),
              corrupted_frac=pooled["corrupted"].mean(axis=0),
              lanes=mask.sum(axis=0))
  at_epochs = [k for k in pooled if k.startswith(("el2n_e", "grand_e"))]
  for name in ("forgetting", "first_learned", "first_correct", "settled", "depth",
               *SCORES.values(), *at_epochs):
    if name in pooled:
      cols[f"{name}_mean"], cols[f"{name}_std"] = lane_stats(pooled[name], mask)
  for name, column in (("unforgettable", "unforgettable_frac"),
                       ("cumulative_acc", "cumulative_acc_mean"),
                       ("error_epoch1", "error_epoch1"),
                       ("final_error", "final_error"),
                       ("critical", "critical_frac"),
                       ("aum_flagged", "aum_flagged_frac"),
                       ("correctness", "correctness_mean")):
    if name in pooled:
      cols[column] = lane_stats(pooled[name], mask)[0]
  if holdout_runs:
    cols["cscore"], cols["cscore_se"] = holdout.cscore([r[:2] for r in holdout_runs])
    per_run = [holdout.estimates(r[0], r[1]) for r in holdout_runs]
    cols["cscore_runs"] = np.sum([r["heldout_lanes"] > 0 for r in per_run], axis=0)
    cols["heldout_lanes"] = np.sum([r["heldout_lanes"] for r in per_run], axis=0)
    cols["memorization"], cols["memorization_se"] = _mean_over_runs(
        np.array([r["memorization"] for r in per_run]),
        np.array([r["memorization_se"] for r in per_run]))
    if all(len(r) > 2 and r[2] is not None for r in holdout_runs):
      by_prob = [holdout.estimates(r[2], r[1]) for r in holdout_runs]
      cols["memorization_prob"], cols["memorization_prob_se"] = _mean_over_runs(
          np.array([r["memorization"] for r in by_prob]),
          np.array([r["memorization_se"] for r in by_prob]))
  return cols


def _mean_over_runs(values: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean [N] over the runs [R, N] where finite, and its standard error (NaN
  where a run's finite value has none: one lane on a side)."""
  count = np.isfinite(values).sum(axis=0)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean = np.nansum(values, axis=0) / count
    err = np.sqrt(np.sum(np.where(np.isfinite(values), se ** 2, 0.0), axis=0)) / count
  return np.where(count > 0, mean, np.nan), np.where(count > 0, err, np.nan)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
  """Spearman rank correlation (SciPy's, ties at their average rank) over the
  rows where both are finite; NaN for fewer than 3 rows or a constant side."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  keep = np.isfinite(a) & np.isfinite(b)
  if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
    return float("nan")
  return float(scipy.stats.spearmanr(a[keep], b[keep]).statistic)


def correlations(cols: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
  """Spearman correlations between the hardness measures present.

  Each measure is signed so that larger means harder (the C-score enters as
  1 - C-score), so agreement shows as positive correlation. Measures that are
  constant over the examples (e.g. no example critical) are left out.

  Returns:
    (names, float [K, K] matrix).
  """
  signs = hardness(cols)
  names = [n for n in signs if np.isfinite(cols[n]).sum() >= 3
           and np.nanstd(cols[n]) > 0]  # A constant measure ranks nothing.
  matrix = np.array([[spearman(signs[a] * cols[a], signs[b] * cols[b])
                      for b in names] for a in names]).reshape(len(names), len(names))
  return names, matrix


def stack(tables: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """One table of several groups' tables: a `group` column first, then every
  column any group has (NaN where a group lacks it)."""
  names = list(dict.fromkeys(n for cols in tables.values() for n in cols))
  out = {"group": np.concatenate([np.full(len(cols["index"]), g, dtype=object)
                                  for g, cols in tables.items()])}
  for n in names:
    if all(n in cols for cols in tables.values()):
      out[n] = np.concatenate([cols[n] for cols in tables.values()])
    else:
      out[n] = np.concatenate([np.asarray(cols[n], np.float64) if n in cols else
                               np.full(len(cols["index"]), np.nan)
                               for cols in tables.values()])
  return out


def write(cols: dict[str, np.ndarray], folder: pathlib.Path) -> list[pathlib.Path]:
  """Writes difficulty.csv and difficulty.parquet into `folder`."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  folder.mkdir(parents=True, exist_ok=True)
  names = list(cols)
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(names)
  writer.writerows([_cell(v) for v in row] for row in zip(*(cols[n].tolist() for n in names)))
  csv_path = files.write_owned(folder, "difficulty.csv", text.getvalue().encode())
  buffer = pa.BufferOutputStream()
  pq.write_table(pa.table({n: np.asarray(cols[n]) for n in names}), buffer)
  parquet_path = files.write_owned(folder, "difficulty.parquet",
                                     buffer.getvalue().to_pybytes())
  return [csv_path, parquet_path]


def _cell(value) -> str:
  if isinstance(value, float):
    return "" if not np.isfinite(value) else f"{value:.6g}"
  return str(value)


def read_csv(path: pathlib.Path) -> dict[str, np.ndarray]:
  """Reads difficulty.csv back: `group` as text, the rest as floats (empty
  cells are NaN)."""
  with open(path, newline="") as f:
    rows = list(csv.reader(f))
  return {name: np.array([r[i] for r in rows[1:]], dtype=object) if name == "group"
          else np.array([float(r[i]) if r[i] else np.nan for r in rows[1:]])
          for i, name in enumerate(rows[0])}


def correlation_table(names: list[str], matrix: np.ndarray) -> str:
  """The correlation matrix as a Markdown table."""
  lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
  for name, row in zip(names, matrix):
    lines.append(f"| {name} | " + " | ".join(
        f"{v:+.2f}" if np.isfinite(v) else "n/a" for v in row) + " |")
  return "\n".join(lines)
