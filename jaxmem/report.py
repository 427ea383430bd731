"""Reports: Markdown tables and PNG figures from finished workdirs.

  python -m jaxmem.report --workdir=runs/quickstart
  python -m jaxmem.report --workdir=runs/a --workdir=runs/b --out=reports/ab

writes `<workdir>/report/report.md` (or `<out>/report.md` for several
workdirs) with its PNGs: per run, the final numbers (mean +- std over seeds
per grid point) and learning curves per grid point (Zhang et al. 2017, Fig.
1a); for runs that sweep label corruption, test error and time to fit against
the corruption level (Fig. 1c, 1b). Flags live in jaxmem.main.
"""

import collections
import dataclasses
import pathlib

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from jaxmem import errors  # pylint: disable=wrong-import-position
from jaxmem import records  # pylint: disable=wrong-import-position
from jaxmem import summary as summary_lib  # pylint: disable=wrong-import-position
from jaxmem.analysis import fit  # pylint: disable=wrong-import-position


@dataclasses.dataclass
class Run:
  """A finished workdir, read."""
  name: str
  path: pathlib.Path
  config: dict  # config.json
  rows: list[dict]  # metrics.jsonl
  summary: dict  # summary.json

  def point_label(self, coords: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in coords.items()) or "all lanes"

  def curves(self, metric: str) -> dict[str, np.ndarray]:
    """Grid point label -> float [seeds, epochs] of `metric` (NaN if missing)."""
    axes = [a for a in self.summary["points"][0]["coords"]]
    by_point = collections.defaultdict(lambda: collections.defaultdict(dict))
    for r in self.rows:
      label = self.point_label({a: r[a] for a in axes})
      value = r.get(metric)
      by_point[label][r["seed"]][r["epoch"]] = np.nan if value is None else value
    epochs = max(r["epoch"] for r in self.rows)
    return {label: np.asarray([[seeds[s].get(e, np.nan) for e in range(1, epochs + 1)]
                               for s in sorted(seeds)])
            for label, seeds in by_point.items()}


def load(path: str | pathlib.Path) -> Run:
  """Reads a finished workdir, or raises UserError saying what is missing."""
  wd = records.Workdir(path)
  if wd.status() != "done":
    raise errors.UserError(
        f"--workdir {wd.path} holds no finished run (status {wd.status()!r}); "
        "a report needs config.json, metrics.jsonl and summary.json of a done run")
  return Run(name=wd.path.name, path=wd.path, config=wd.read_json("config.json"),
             rows=wd.read_metrics(), summary=wd.read_json("summary.json"))


def _band(ax, values: np.ndarray, label: str) -> None:
  mean = np.nanmean(values, axis=0)
  std = np.nanstd(values, axis=0, ddof=1) if len(values) > 1 else 0 * mean
  epochs = np.arange(1, len(mean) + 1)
  line, = ax.plot(epochs, mean, label=label)
  ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)


def learning_curves(run: Run, out: pathlib.Path) -> str:
  """Train accuracy (on the labels trained on) and test accuracy per epoch."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
  for ax, metric, title in zip(axes, ("train_acc", "test_acc"),
                               ("training accuracy (labels trained on)",
                                "test accuracy (clean labels)")):
    for label, values in run.curves(metric).items():
      _band(ax, values, label)
    ax.set(title=title, xlabel="epoch", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("accuracy (mean +- std over seeds)")
  axes[1].legend(fontsize=8, loc="center right")
  fig.suptitle(f"{run.name}: learning curves")
  name = f"{run.name}_learning_curves.png"
  fig.tight_layout()
  fig.savefig(out / name, dpi=110)
  plt.close(fig)
  return name


def corruption_figures(run: Run, out: pathlib.Path, threshold: float) -> list[str]:
  """Test error and time to fit vs label corruption (runs that sweep it)."""
  points = run.summary["points"]
  if not points or list(points[0]["coords"]) != ["label_corruption"]:
    return []
  levels = [p["coords"]["label_corruption"] for p in points]
  err = [1 - p["test_acc"]["mean"] for p in points]
  err_std = [p["test_acc"]["std"] or 0 for p in points]
  cfg = run.config["config"]
  steps = (run.config["dataset"]["train_shape"][0] // cfg["batch_size"]
           if not cfg.get("subset_ratio") else None)
  fitted = fit.time_to_fit(run.rows, threshold, steps)
  level_of = {l["lane"]: l["label_corruption"] for l in run.config["lanes"]}
  times = collections.defaultdict(list)
  for lane, f in fitted.items():
    times[level_of[lane]].append(np.nan if f["epoch"] is None else f["epoch"])
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
  name = f"{run.name}_corruption.png"
  fig.tight_layout()
  fig.savefig(out / name, dpi=110)
  plt.close(fig)
  return [name]


def _markdown_table(run: Run) -> str:
  text = summary_lib.table(run.summary).splitlines()
  cells = [[c.strip() for c in line.split("  ") if c.strip()] for line in text]
  header, rows = cells[0], cells[2:]
  return "\n".join(["| " + " | ".join(header) + " |",
                    "|" + " --- |" * len(header)]
                   + ["| " + " | ".join(r) + " |" for r in rows])


def write(paths: list[str], out: str | None = None, threshold: float = 1.0) -> pathlib.Path:
  """Writes report.md and its figures; returns the report's path."""
  if len(paths) > 1 and not out:
    raise errors.UserError("a report on several workdirs needs --out=DIR")
  runs = [load(p) for p in paths]
  folder = pathlib.Path(out) if out else runs[0].path / "report"
  folder.mkdir(parents=True, exist_ok=True)
  parts = ["# jaxmem report", ""]
  for run in runs:
    cfg = run.config["config"]
    parts += [f"## {run.name}", "",
              f"`{run.path}`: model `{cfg['model']}` on `{cfg['dataset']}` "
              f"({run.config['dataset']['source']}), {len(run.config['lanes'])} "
              f"lanes, {cfg['num_epochs']} epochs, seed {cfg['seed']}; "
              f"{run.summary['train_s']:.0f} s training, "
              f"{run.summary['compile_s']:.0f} s compiling.", "",
              "Final accuracy in %, mean +- std over seeds:", "",
              _markdown_table(run), ""]
    for name in [learning_curves(run, folder)] + corruption_figures(run, folder, threshold):
      parts += [f"![{name}]({name})", ""]
  path = folder / "report.md"
  records.atomic_write(path, "\n".join(parts).encode())
  return path


if __name__ == "__main__":
  from jaxmem import main  # pylint: disable=g-import-not-at-top
  main.run_report()
