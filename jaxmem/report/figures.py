"""PNG figures for reports: learning curves, corruption sweeps, per-example difficulty.

Every function draws one figure into `out` and returns its file name. Runs come
as `jaxmem.results.Results`; per-example measures as jaxmem.analysis.table's columns
and per-lane arrays.
"""

import collections
import io
import pathlib

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import ticker  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from jaxmem.analysis import fit  # pylint: disable=wrong-import-position
from jaxmem.workdir import files  # pylint: disable=wrong-import-position


def _save(fig, out: pathlib.Path, name: str, tight: bool = True) -> str:
  """Writes the figure as out/name (listed in out's manifest); returns name.
  `tight=False` keeps a layout the caller set (tight_layout measures every
  axes: seconds for a grid of images)."""
  if tight:
    fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, dpi=110, format="png")
  plt.close(fig)
  files.write_owned(out, name, buffer.getvalue())
  return name


def band(ax, values: np.ndarray, label: str) -> None:
  """Mean +- std over seeds [S, E] per epoch; epochs never measured are skipped."""
  epochs = np.arange(1, values.shape[1] + 1)
  seen = np.any(np.isfinite(values), axis=0)
  values, epochs = values[:, seen], epochs[seen]
  mean = np.nanmean(values, axis=0)
  std = np.nanstd(values, axis=0, ddof=1) if len(values) > 1 else 0 * mean
  line, = ax.plot(epochs, mean, label=label, marker="o" if len(epochs) < 15 else None)
  ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)


def learning_curves(run, out: pathlib.Path) -> str:
  """Train accuracy (on the labels trained on) and test accuracy per epoch."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
  for ax, metric, title in zip(axes, ("train_acc", "test_acc"),
                               ("training accuracy (labels trained on)",
                                "test accuracy (clean labels)")):
    for label, values in run.curves(metric).items():
      band(ax, values, label)
    ax.set(title=title, xlabel="epoch", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("accuracy (mean +- std over seeds)")
  axes[1].legend(fontsize=8, loc="center right")
  fig.suptitle(f"{run.name}: learning curves (Zhang et al. 2017, Fig. 1a)")
  return _save(fig, out, f"{run.name}_learning_curves.png")


def critical_curves(run, out: pathlib.Path) -> list[str]:
  """Critical sample ratio over training per grid point (Arpit et al. 2017)."""
  curves = run.curves("critical_ratio")
  if not any(np.isfinite(v).any() for v in curves.values()):
    return []
  fig, ax = plt.subplots(figsize=(6, 4))
  for label, values in curves.items():
    band(ax, values, label)
  radius = run.config["critical"]["radius"] * 255
  ax.set(title=f"critical sample ratio (box radius {radius:.2g}/255)",
         xlabel="epoch", ylabel="fraction critical (mean +- std)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return [_save(fig, out, f"{run.name}_critical_ratio.png")]


def fit_epochs_by_level(run, threshold: float, steps_per_epoch=None) -> dict:
  """Label corruption level -> each of its lanes' epochs to reach `threshold`
  training accuracy (NaN: never)."""
  fitted = fit.time_to_fit(run.rows, threshold, steps_per_epoch)
  level_of = {l["lane"]: l["label_corruption"] for l in run.described["lanes"]}
  times = collections.defaultdict(list)
  for lane, f in fitted.items():
    times[level_of[lane]].append(np.nan if f["epoch"] is None else f["epoch"])
  return times


def corruption_figures(run, out: pathlib.Path, threshold: float) -> list[str]:
  """Test error and time to fit vs label corruption (runs that sweep it)."""
  points = run.summary["points"]
  if not points or list(points[0]["coords"]) != ["label_corruption"]:
    return []
  levels = [p["coords"]["label_corruption"] for p in points]
  err = [1 - p["test_acc"]["mean"] for p in points]
  err_std = [p["test_acc"]["std"] or 0 for p in points]
  cfg = run.config
  steps = (run.described["dataset"]["train_shape"][0] // cfg["batch_size"]
           if not cfg.get("subset_ratio") else None)
  times = fit_epochs_by_level(run, threshold, steps)
  fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
  a.errorbar(levels, err, yerr=err_std, marker="o", capsize=3)
  a.set(title="test error vs label corruption (Zhang Fig. 1c)",
        xlabel="label corruption level", ylabel="test error (mean +- std)")
  mean_t = [np.nanmean(times[l]) if np.any(np.isfinite(times[l])) else np.nan
            for l in levels]
  fitted_n = [int(np.sum(np.isfinite(times[l]))) for l in levels]
  b.plot(levels, mean_t, marker="o")
  for l, t, k in zip(levels, mean_t, fitted_n):
    b.annotate(f"{k}/{len(times[l])}", (l, t if np.isfinite(t) else 0),
               fontsize=7, textcoords="offset points", xytext=(0, 5))
  b.set(title=f"epochs to reach {threshold:.0%} training accuracy (Fig. 1b)",
        xlabel="label corruption level",
        ylabel="epochs (mean over lanes that fit; n fitted/lanes)")
  for ax in (a, b):
    ax.grid(alpha=0.3)
  return [_save(fig, out, f"{run.name}_corruption.png")]


def _integer_bars(ax, values: np.ndarray, groups: dict[str, np.ndarray]) -> None:
  """Side-by-side bars of the fraction of entries at each integer value."""
  top = int(values.max()) if values.size else 0
  bins = np.arange(top + 1)
  width = 0.8 / len(groups)
  for i, (label, keep) in enumerate(groups.items()):
    counts = np.bincount(values[keep].astype(int), minlength=top + 1)
    ax.bar(bins + (i - (len(groups) - 1) / 2) * width,
           counts / max(keep.sum(), 1), width, label=f"{label} (n={keep.sum()})")
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.grid(alpha=0.3, axis="y")


def _label_groups(corrupted: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
  if not (corrupted & mask).any():
    return {"all": mask}
  return {"clean label": mask & ~corrupted, "corrupted label": mask & corrupted}


def forgetting_histogram(name: str, forgetting: np.ndarray, corrupted: np.ndarray,
                         mask: np.ndarray, out: pathlib.Path) -> str:
  """Forgetting events per (lane, example) trained on (Toneva et al. 2019, Fig. 1)."""
  fig, ax = plt.subplots(figsize=(7, 4))
  _integer_bars(ax, forgetting, _label_groups(corrupted, mask))
  ax.set_yscale("log")
  ax.set(title=f"{name}: forgetting events per example and lane "
         f"({np.mean(forgetting[mask] == 0):.1%} never forgotten)",
         xlabel="forgetting events (never learned: its presentations)",
         ylabel="fraction of (lane, example) pairs")
  ax.legend(fontsize=8)
  return _save(fig, out, f"{name}_forgetting.png")


def depth_histogram(name: str, depth: np.ndarray, corrupted: np.ndarray,
                    mask: np.ndarray, out: pathlib.Path) -> str:
  """Prediction depth per (lane, example) (Baldock et al. 2021, Fig. 2)."""
  fig, ax = plt.subplots(figsize=(7, 4))
  _integer_bars(ax, depth, _label_groups(corrupted, mask))
  ax.set(title=f"{name}: prediction depth (k-NN probes agree from this layer on)",
         xlabel="probed layer (0: the input; the last: the logits, or none agree)", ylabel="fraction of (lane, example) pairs")
  ax.legend(fontsize=8)
  return _save(fig, out, f"{name}_depth.png")


def example_grid(name: str, images: np.ndarray, cols: dict[str, np.ndarray],
                 measure: str, sign: int, out: pathlib.Path, count: int = 24) -> str:
  """The easiest and hardest training examples by `measure`, with their labels.

  Args:
    images: float [N, H, W, C], the table's examples in its order (each image
      is shown rescaled to its own range).
    cols: the difficulty table's columns.
    measure: the column to rank by; `sign` 1 if larger is harder, -1 if not;
      ties broken by forgetting events.
  """
  hardness = sign * cols[measure]
  # Ties (e.g. many C-scores of exactly 1) are broken by forgetting events.
  tie = np.nan_to_num(cols.get("forgetting_mean", np.zeros_like(hardness)))
  ranked = np.lexsort((tie, np.where(np.isfinite(hardness), hardness, -np.inf)))
  ranked = ranked[np.isfinite(hardness[ranked])]
  per_row = 12
  rows = -(-count // per_row)
  fig, axes = plt.subplots(2 * rows, per_row, figsize=(per_row * 1.1, 2 * rows * 1.35))
  # Laid out by hand, captions as figure text: axes titles and tight_layout
  # cost a second per figure in matplotlib's text measuring.
  fig.subplots_adjust(left=0.03, right=0.99, bottom=0.01, top=0.86 if rows == 1 else 0.9,
                      wspace=0.08, hspace=0.55)
  for block, (title, picks) in enumerate((("easiest", ranked[:count]),
                                          ("hardest", ranked[::-1][:count]))):
    for i, ax in enumerate(axes[block * rows:(block + 1) * rows].reshape(-1)):
      ax.axis("off")
      if i >= len(picks):
        continue
      n = picks[i]
      image = images[n] - images[n].min()
      image = image / max(float(image.max()), 1e-12)  # Any range shows as 0..1.
      ax.imshow(image[..., 0] if image.shape[-1] == 1 else image,
                cmap="gray" if image.shape[-1] == 1 else None)
      clean, trained = int(cols["clean_label"][n]), int(cols["trained_label"][n])
      label = f"{clean}" if clean == trained else f"{clean}->{trained}"
      box = ax.get_position()
      fig.text((box.x0 + box.x1) / 2, box.y1 + 0.005,
               f"#{int(cols['index'][n])} y={label}\n{measure.split('_')[0]} "
               f"{cols[measure][n]:.2f}", fontsize=6, ha="center", va="bottom")
      if i == 0:
        fig.text(box.x0 - 0.005, (box.y0 + box.y1) / 2, title, rotation=90,
                 ha="right", va="center", fontsize=10)
  fig.suptitle(f"{name}: easiest and hardest training examples by {measure}")
  return _save(fig, out, f"{name}_examples_{measure}.png", tight=False)


def pruning_curves(rows: list[dict], out: pathlib.Path, title: str = "",
                   name: str = "pruning.png") -> str:
  """Test accuracy against the fraction kept (mean +- std over seeds,
  jaxmem.analysis.pruning.curves): a colour per score, a line style per rule,
  random in black, the full data dashed; every rule on the left, the rules
  that keep the hard or stratify on the right, at their own scale."""
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
  by_rule = collections.defaultdict(list)
  for r in rows:
    by_rule[r["rule"]].append(r)
  scores = list(dict.fromkeys(rule.partition(":")[2] for rule in by_rule if ":" in rule))
  colors = {s: f"C{i}" for i, s in enumerate(scores)}
  styles = {"hardest": "-", "stratified": "--", "easiest": ":"}
  for ax, zoom in zip(axes, (False, True)):
    shown = []
    for rule, points in by_rule.items():
      points = sorted(points, key=lambda r: r["fraction"])
      y = np.asarray([p["test_acc"] for p in points]) * 100
      err = np.nan_to_num(np.asarray([p["test_acc_std"] for p in points]) * 100)
      if rule == "none":
        ax.axhline(y[0], color="k", ls="--", lw=1, label=f"full data ({y[0]:.1f}%)")
        ax.axhspan(y[0] - err[0], y[0] + err[0], color="k", alpha=0.08)
        shown.append(y[0])
        continue
      kind, _, score = rule.partition(":")
      if zoom and kind == "easiest":
        continue
      x = np.asarray([p["fraction"] for p in points]) * 100
      ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=rule,
                  color="k" if rule == "random" else colors[score],
                  ls=styles.get(kind, "-"), lw=2.2 if rule == "random" else 1.3)
      shown.extend(y - err)
    if zoom and shown:
      ax.set_ylim(max(0, min(shown) - 1), None)
    ax.set(xlabel="training set kept (%)",
           title="every rule" if not zoom else "hardest and stratified against random")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
  axes[0].set_ylabel("test accuracy (%), mean ± std over seeds")
  fig.suptitle(title or "Data pruning: test accuracy against the fraction kept")
  return _save(fig, out, name)
