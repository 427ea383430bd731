"""docs/results/label_errors.md: which per-example score finds mislabelled examples?

Trains sweep label_errors_fashion_mnist (an MLP 1x512 on 10,000 Fashion-MNIST
images, 8 seeds at each of 20% and 40% label noise, every score recorded) with
flip and with uniform noise, then again with AUM's threshold samples, and
judges every score against the labels the lanes know they corrupted: AUROC
and average precision per lane (mean +- std over the 8 seeds) and for the
scores averaged over the seeds. Reuses finished runs in --root. About 25
minutes on 2 CPU cores.

  JAXMEM_DATA_DIR=../shared/data python scripts/results_detection.py
"""

import argparse
import pathlib
import sys
import time

import numpy as np

import results_lib as lib  # pylint: disable=wrong-import-position
from jaxmem.analysis import difficulty  # pylint: disable=wrong-import-position

SWEEP = "label_errors_fashion_mnist"
OUT = "label_errors.md"
NAMES = {"forgetting": "forgetting events", "first_learned": "first learned",
         "aum": "AUM", "aum_flagged": "AUM flagged (threshold samples)",
         "confidence": "confidence (data maps)", "variability": "variability (data maps)",
         "correctness": "correctness (data maps)", "loss": "mean loss",
         "entropy": "mean entropy", "depth": "prediction depth",
         "el2n_e2": "EL2N, epoch 2", "el2n_e20": "EL2N, epoch 20",
         "grand_e0": "GraNd, initialization", "grand_e2": "GraNd, epoch 2"}


def _cell(mean, std) -> str:
  if not np.isfinite(mean):
    return "-"
  return f"{mean:.3f} ± {std:.3f}" if np.isfinite(std) else f"{mean:.3f}"


def _figure(settings: dict, path: pathlib.Path) -> None:
  """AUROC per score and setting, mean +- std over seeds."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  scores = [s for s in NAMES if any(s in rows for rows in settings.values())]
  fig, ax = plt.subplots(figsize=(8, 0.38 * len(scores) + 1.2))
  for k, (setting, rows) in enumerate(settings.items()):
    y = np.arange(len(scores)) + (k - (len(settings) - 1) / 2) * 0.18
    mean = [rows[s]["auroc_mean"] if s in rows else np.nan for s in scores]
    std = [rows[s]["auroc_std"] if s in rows else np.nan for s in scores]
    ax.errorbar(mean, y, xerr=std, fmt="o", ms=4, capsize=2, label=setting)
  ax.axvline(0.5, color="grey", lw=0.8, ls="--")
  ax.set_yticks(np.arange(len(scores)), [NAMES[s] for s in scores])
  ax.invert_yaxis()
  ax.set_xlabel("AUROC at finding the corrupted labels (mean ± std over 8 seeds)")
  ax.legend(loc="upper left", fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _findings(settings: dict, fitted: dict, shares: list, precisions: list,
              rates: dict) -> list[str]:
  """The page's conclusions, each computed from the tables it sits under."""
  def mean_over(score: str, key: str) -> float:
    return float(np.nanmean([rows[score][key] for rows in settings.values() if score in rows]))
  scores = [s for s in NAMES if any(s in rows for rows in settings.values())]
  gain = {s: mean_over(s, "pooled_auroc") - mean_over(s, "auroc_mean") for s in scores}
  gain = {s: g for s, g in gain.items() if np.isfinite(g)}
  ranked = sorted(gain, key=gain.get, reverse=True)
  out = [f"- Averaging a score over the 8 seeds helps most where single seeds "
         f"disagree: AUROC +{gain[ranked[0]]:.3f} for {NAMES[ranked[0]]}, "
         f"+{gain[ranked[1]]:.3f} for {NAMES[ranked[1]]}, and "
         f"{gain[ranked[-1]]:+.3f} for {NAMES[ranked[-1]]} (mean over the four "
         "settings of the pooled AUROC minus the per-seed mean)."]
  early, late = [s for s in scores if s.startswith("el2n_e")][:1], \
      [s for s in scores if s.startswith("el2n_e")][-1:]
  if early and late and early != late:
    out.append(
        f"- {NAMES[early[0]]} finds the corrupted labels better than {NAMES[late[0]]} "
        f"(AUROC {mean_over(early[0], 'auroc_mean'):.3f} vs "
        f"{mean_over(late[0], 'auroc_mean'):.3f}, mean over settings): by the last "
        "epoch the network has fit part of the noisy labels (accuracy on the labels "
        "it trains on: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in fitted.items())
        + "), so a corrupted label's error shrinks. Paul et al. take EL2N a few "
        "epochs in for this reason.")
  if "grand_e0" in scores:
    at_init = [rows["grand_e0"]["auroc_mean"] for rows in settings.values()]
    out.append(
        f"- GraNd at the initialization ranks at chance (AUROC {min(at_init):.3f} to "
        f"{max(at_init):.3f}): a random network's gradient norm knows nothing of "
        "which labels are wrong. The 2023 reproduction of Paul et al. found "
        "GraNd at initialization no better than random pruning too.")
  out.append(
      f"- AUM's threshold-sample rule flags {100 * min(shares):.0f}% to "
      f"{100 * max(shares):.0f}% of the examples where {100 * min(rates.values()):.0f}% "
      f"to {100 * max(rates.values()):.0f}% are corrupted: almost every corrupted "
      f"label is caught, at a precision of {100 * min(precisions):.0f}% to "
      f"{100 * max(precisions):.0f}%. The 99th percentile of the threshold samples' "
      "AUM is a high bar once some of them are memorized, as 20 epochs at a "
      "constant learning rate allow; Pleiss et al. compute AUM over a schedule cut "
      "at the first learning-rate drop. The ranking (AUM's AUROC) stays good.")
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--root", default="runs/results")
  parser.add_argument("--data_dir", default=None)
  args = parser.parse_args()
  lib.setup()
  runs = {}
  for kind in ("flip", "uniform"):
    for threshold in (False, True):
      runs[kind, threshold] = lib.run(
          SWEEP, args.root, {"label_corruption_kind": kind,
                             "scores.threshold_samples": threshold},
          args.data_dir, folder=f"label_errors_{kind}" + ("_threshold" if threshold else ""))
  trained = lib.training_seconds(runs.values())
  analysis_start = time.perf_counter()
  found = {key: difficulty.analyze([str(w)], out=str(w) + "_analysis", data_dir=args.data_dir,
                                   critical_examples=0)
           for key, w in runs.items()}
  analysed = time.perf_counter() - analysis_start
  config = lib.sweep_config(SWEEP)
  seeds = config.num_seeds
  command = ("JAXMEM_DATA_DIR=../shared/data python scripts/results_detection.py "
             + " ".join(sys.argv[1:])).strip()
  # Setting -> {score: row}, for the runs without threshold samples.
  settings, rates, tests, fitted = {}, {}, {}, {}
  for kind in ("flip", "uniform"):
    summary = lib.summary(runs[kind, False])
    for group, point in zip(found[kind, False].groups, summary["points"]):
      name = f"{kind} {group.name.split()[-1]}"
      settings[name] = {r["score"]: r for r in group.detection.rows}
      rates[name] = group.detection.rate
      tests[name] = lib.pm(point["test_acc"])
      fitted[name] = point["train_acc"]["mean"]
  _figure(settings, lib.DOCS / "label_errors.png")
  head = "| score | " + " | ".join(f"{s} noise" for s in settings) + " |"
  rule = "|---" * (len(settings) + 1) + "|"
  scores = [s for s in NAMES if any(s in rows for rows in settings.values())]

  def table(value) -> list[str]:
    return [head, rule] + [
        f"| {NAMES[s]} | " + " | ".join(value(rows[s]) if s in rows else "-"
                                        for rows in settings.values()) + " |"
        for s in scores]
  best = {name: max((s for s in rows if np.isfinite(rows[s]["auroc_mean"])),
                    key=lambda s: rows[s]["auroc_mean"]) for name, rows in settings.items()}
  flagged, shares, precisions = [], [], []
  for kind in ("flip", "uniform"):
    for group in found[kind, True].groups:
      per_lane = [r for r in group.per_lane]
      mask = np.concatenate([r["mask"] for r in per_lane])
      flags = np.concatenate([r["aum_flagged"] for r in per_lane])
      truth = np.concatenate([r["corrupted"] for r in per_lane])
      precision = [(f & t)[m].sum() / max(f[m].sum(), 1) for f, t, m in zip(flags, truth, mask)]
      recall = [(f & t)[m].sum() / max(t[m].sum(), 1) for f, t, m in zip(flags, truth, mask)]
      share = [f[m].mean() for f, m in zip(flags, mask)]
      shares.append(np.mean(share))
      precisions.append(np.mean(precision))
      rows = {r["score"]: r for r in group.detection.rows}
      flagged.append(f"| {kind} {group.name.split()[-1]} | {lib.values_pm(share, 100, 1)}% | "
                     f"{lib.values_pm(precision, 100, 1)}% | {lib.values_pm(recall, 100, 1)}% | "
                     f"{_cell(rows['aum']['auroc_mean'], rows['aum']['auroc_std'])} |")
  said = _findings(settings, fitted, shares, precisions, rates)
  lines = [
      "# Finding mislabelled examples: every score against the truth (Fashion-MNIST)", "",
      f"Regenerated by `{command}` ({lib.machine()}; {lib.hours(trained)} of training, "
      f"{lib.hours(analysed)} of analysis; finished runs are reused).", "",
      f"Sweep `{SWEEP}`: an MLP 1x512 on the first 10,000 Fashion-MNIST training "
      f"images, {config.num_epochs} epochs of SGD (batch {config.batch_size}, learning "
      f"rate {config.learning_rate}, momentum {config.momentum}), {seeds} seeds per "
      "setting. Each noise level is one noisy data set shared by its seeds "
      "(`corruption_draw=\"shared\"`): `flip` moves a label to another class, "
      "`uniform` draws a new one from all classes (so about a tenth of the drawn "
      "labels are the true one and are not corrupted). The lanes know which labels "
      "they corrupted; each score is judged against that. Test accuracy (clean test "
      "set, %): " + ", ".join(f"{k}: {v}" for k, v in tests.items()) + ".", "",
      "Scores (jaxmem.measures.scores, every one signed so that larger means more "
      "suspect): forgetting events and first learned epoch (Toneva et al. 2019), "
      "AUM (Pleiss et al. 2020: mean margin from epoch 2 on, on logits), confidence, "
      "variability and correctness (Swayamdipta et al. 2020's data maps), mean loss "
      "and entropy over the presentations, EL2N after epochs 2 and 20 and GraNd at "
      "the initialization and after epoch 2 (Paul et al. 2021), prediction depth "
      "(Baldock et al. 2021, k = 30).", "",
      "## AUROC, per seed (mean ± std over 8 seeds)", "",
      "Chance is 0.5. A single run's score is what one seed gives; the spread says "
      "how much one run can be trusted.", "", *table(
          lambda r: _cell(r["auroc_mean"], r["auroc_std"])), "",
      "![AUROC per score](label_errors.png)", "",
      "## Average precision, per seed (mean ± std over 8 seeds)", "",
      "Chance is the noise rate: " + ", ".join(
          f"{k} {100 * v:.1f}%" for k, v in rates.items()) + ".", "", *table(
          lambda r: _cell(r["ap_mean"], r["ap_std"])), "",
      "## The scores averaged over the 8 seeds", "",
      "As Paul et al. average EL2N over initializations: AUROC / average precision "
      "of each example's mean score over the seeds.", "", *table(
          lambda r: f"{r['pooled_auroc']:.3f} / {r['pooled_ap']:.3f}"), "",
      "## AUM's threshold samples", "",
      "The same runs with `scores.threshold_samples=True`: in each lane a random "
      "N/(C+1) of the examples move to an extra eleventh class, and an example is "
      "flagged when its AUM is below more than 1% of theirs (asappresearch/aum's "
      "rule). Precision and recall of the flags against the corrupted labels, per "
      "seed:", "",
      "| setting | flagged | precision | recall | AUM's AUROC in these runs |",
      "|---|---|---|---|---|", *flagged, "",
      "## What it says", "",
      *[f"- {name}: the best single-seed score is {NAMES[s]} (AUROC "
        f"{_cell(settings[name][s]['auroc_mean'], settings[name][s]['auroc_std'])})."
        for name, s in best.items()],
      *said,
      ""]
  lib.write(OUT, "\n".join(lines), dict(
      title="Finding mislabelled examples: every score vs the truth (Fashion-MNIST)",
      command=command, seeds=f"{seeds} per setting",
      time=f"{lib.hours(trained)} training, {lib.hours(analysed)} analysis",
      verdict="; ".join(f"{name}: best {NAMES[s]} AUROC {settings[name][s]['auroc_mean']:.2f}"
                        for name, s in best.items())))


if __name__ == "__main__":
  main()
