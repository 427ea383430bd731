"""docs/results/influence_usps.md: memorization and train -> test influence on USPS.

Trains sweep influence_usps (256 lanes of an MLP 1x512, each on its own
random 70% of the 7291 training digits; reuses a finished run in --root),
then estimates from jaxmem.open(...).datamodels(), as Feldman & Zhang 2020 do:
each training digit's memorization (from correctness and from the label's
probability) and the training -> test pairs of largest influence, with
standard errors, streamed (never the 7291 x 2007 matrix). Shows the top
pairs and the most memorized digits as images. About 6 minutes on 2 CPU cores.

  JAXMEM_DATA_DIR=../shared/data python scripts/results_influence.py
"""

import argparse
import sys
import time

import numpy as np

import results_lib as lib  # pylint: disable=wrong-import-position
import jaxmem  # pylint: disable=wrong-import-position
from jaxmem import datasets  # pylint: disable=wrong-import-position
from jaxmem.analysis import holdout  # pylint: disable=wrong-import-position
from jaxmem.analysis import influence  # pylint: disable=wrong-import-position

SWEEP = "influence_usps"
OUT = "influence_usps.md"


def _show(ax, image, caption):
  image = image.astype(np.float64)
  image = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
  ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
  ax.set_xticks([]), ax.set_yticks([])
  ax.set_xlabel(caption, fontsize=7)


def _pairs_figure(pairs, train, test, path, count: int = 12) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  count = min(count, len(pairs.train))
  fig, axes = plt.subplots(2, count, figsize=(1.25 * count, 3.2), squeeze=False)
  for c in range(count):
    i, j = pairs.train[c], pairs.test[c]
    _show(axes[0, c], train.images[i], f"train #{train.index[i]} y={train.labels[i]}")
    _show(axes[1, c], test.images[j], f"test #{test.index[j]} y={test.labels[j]}\n"
          f"{pairs.influence[c]:.2f} ± {pairs.se[c]:.2f}")
  fig.suptitle("Largest train -> test influences (Feldman & Zhang's estimator, ± se)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _memorized_figure(order, mem, se, train, path, count: int = 16) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(2, count // 2, figsize=(1.25 * count / 2, 3.4), squeeze=False)
  for ax, i in zip(axes.reshape(-1), order[:count]):
    _show(ax, train.images[i], f"#{train.index[i]} y={train.labels[i]}\n"
          f"mem {mem[i]:.2f} ± {se[i]:.2f}")
  fig.suptitle("Most memorized training digits (accuracy in minus held out, ± se)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Euclidean distance between images, rows of a and b paired, pixels standardized."""
  a = a.reshape(len(a), -1).astype(np.float64)
  b = b.reshape(len(b), -1).astype(np.float64)
  return np.linalg.norm(a - b, axis=1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--root", default="runs/results")
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--k", type=int, default=200)
  args = parser.parse_args()
  lib.setup()
  workdir = lib.run(SWEEP, args.root, data_dir=args.data_dir)
  trained = lib.training_seconds([workdir])
  results = jaxmem.open(workdir, data_dir=args.data_dir)
  start = time.perf_counter()
  store = results.datamodels()
  lanes = len(store["lanes"])
  found = holdout.estimates(store["train_correct"], store["in_subset"])
  by_prob = holdout.estimates(store["train_prob"], store["in_subset"])
  pairs = influence.top_pairs(store["in_subset"], store["test_correct"], k=args.k)
  margin_pairs = influence.top_pairs(store["in_subset"], store["test_margin"], k=args.k)
  estimated = time.perf_counter() - start
  data = datasets.from_config(results.config, args.data_dir)
  train, test = data.train, data.test
  lib.DOCS.mkdir(parents=True, exist_ok=True)
  _pairs_figure(pairs, train, test, lib.DOCS / "influence_usps_pairs.png")
  mem, se = found["memorization"], found["memorization_se"]
  # Ties (memorization 1: right in every lane that trained on it, wrong in
  # every other) are ordered by the estimate from the label's probability.
  order = np.lexsort((-np.nan_to_num(by_prob["memorization"], nan=-np.inf),
                      -np.nan_to_num(mem, nan=-np.inf)))
  _memorized_figure(order, mem, se, train, lib.DOCS / "influence_usps_memorized.png")

  # Near duplicates: a top pair's images against random train-test pairs of
  # the same class, in the pixels the network sees (standardized).
  pixels = lambda x: (x - x.mean(axis=(1, 2, 3), keepdims=True)) / (
      x.std(axis=(1, 2, 3), keepdims=True) + 1e-8)
  tr, te = pixels(train.images.astype(np.float64)), pixels(test.images.astype(np.float64))
  top = min(50, len(pairs.train))
  near = _distance(tr[pairs.train[:top]], te[pairs.test[:top]])
  rng = np.random.default_rng(0)
  same_i, same_j = [], []
  for j in rng.integers(0, len(te), 2000):
    members = np.flatnonzero(train.labels == test.labels[j])
    same_i.append(rng.choice(members))
    same_j.append(j)
  baseline = _distance(tr[np.array(same_i)], te[np.array(same_j)])
  same_label = np.mean(train.labels[pairs.train[:top]] == test.labels[pairs.test[:top]])
  z = pairs.influence / pairs.se
  command = ("JAXMEM_DATA_DIR=../shared/data python scripts/results_influence.py "
             + " ".join(sys.argv[1:])).strip()
  summary = lib.summary(workdir)
  test_acc = lib.pm(summary["points"][0]["test_acc"])
  rows = [f"| {r + 1} | {train.index[i]} | {train.labels[i]} | {test.index[j]} | "
          f"{test.labels[j]} | {pairs.influence[r]:.3f} ± {pairs.se[r]:.3f} | "
          f"{pairs.lanes_in[r]} / {pairs.lanes_out[r]} | {_distance(tr[i:i + 1], te[j:j + 1])[0]:.1f} |"
          for r, (i, j) in enumerate(zip(pairs.train[:20], pairs.test[:20]))]
  mem_rows = [f"| {train.index[i]} | {train.labels[i]} | {mem[i]:.3f} ± {se[i]:.3f} | "
              f"{by_prob['memorization'][i]:.3f} ± {by_prob['memorization_se'][i]:.3f} |"
              for i in order[:10]]
  config = results.config
  lines = [
      "# Memorization and train -> test influence on USPS (Feldman & Zhang 2020)", "",
      f"Regenerated by `{command}` ({lib.machine()}; {lib.hours(trained)} of training, "
      f"{estimated:.1f} s for the estimates; a finished run is reused).", "",
      f"Sweep `{SWEEP}`: {lanes} lanes of an MLP 1x512, each trained on its own random "
      f"{100 * config.subset_ratio:.0f}% of the 7,291 USPS training digits for "
      f"{config.num_epochs} epochs (SGD, batch {config.batch_size}, learning rate "
      f"{config.learning_rate}, momentum {config.momentum}); test accuracy {test_acc}%. "
      "Each lane keeps, after the last epoch, its correctness, margin and "
      "probability of the label on every training and test digit, with the mask "
      "of the digits it trained on (`jaxmem.open(workdir).datamodels()`).", "",
      "Estimators (Feldman & Zhang 2020; `jaxmem.analysis.holdout` and "
      "`jaxmem.analysis.influence`), each mean over the lanes on a side, with the "
      "standard error of a difference of two means:", "",
      "- memorization of training digit i: P(right on i | i trained on) − "
      "P(right on i | i held out); also with the label's probability in place of "
      "correctness;",
      "- influence of training digit i on test digit j: P(right on j | i trained "
      "on) − P(right on j | i held out), streamed over blocks of the 7,291 x 2,007 "
      f"pairs, keeping the top {args.k}.", "",
      "## The largest influences", "",
      "![Top pairs](influence_usps_pairs.png)", "",
      "| rank | train id | label | test id | label | influence ± se | lanes in / out | "
      "distance |", "|---|---|---|---|---|---|---|---|", *rows, "",
      "Distance: between the two images' standardized pixels.", "",
      "## The most memorized training digits", "",
      "![Most memorized](influence_usps_memorized.png)", "",
      "| train id | label | memorization (correctness) | memorization (probability) |",
      "|---|---|---|---|", *mem_rows, "",
      "## What it says", "",
      f"- Of the top {top} pairs, {100 * same_label:.0f}% join a training digit to a "
      "test digit of the same label, and their images are closer than random "
      f"pairs of one label: median distance {np.median(near):.1f} against "
      f"{np.median(baseline):.1f} (2,000 random same-label pairs). In the figure "
      "the pairs look like one writer's hand: high influence comes from near "
      "duplicates, as in Feldman & Zhang's figures.",
      f"- The largest influence is {pairs.influence[0]:.2f} ± {pairs.se[0]:.2f} "
      f"({z[0]:.1f} standard errors); the {args.k}th is {pairs.influence[-1]:.2f} ± "
      f"{pairs.se[-1]:.2f}. With {lanes} lanes a standard error near "
      f"{np.median(pairs.se):.2f} is the floor: Feldman & Zhang's thousands of "
      "models are what resolves smaller influences.",
      f"- {np.sum(mem - 2 * se > 0)} of 7,291 training digits have a memorization "
      f"more than two standard errors above 0 ({np.sum(mem == 1)} reach 1: right "
      f"in every lane that trained on them, wrong in every other); the mean is "
      f"{np.nanmean(mem):.3f}. In the figure the most memorized are atypical "
      "writings, some of which look like another digit, as Feldman & Zhang found "
      "on MNIST and CIFAR.",
      f"- With the margin as the outcome, the top pair is train "
      f"#{train.index[margin_pairs.train[0]]} -> test #{test.index[margin_pairs.test[0]]} "
      f"({margin_pairs.influence[0]:.2f} ± {margin_pairs.se[0]:.2f} in logits); "
      f"{len(set(zip(pairs.train[:top], pairs.test[:top])) & set(zip(margin_pairs.train[:top], margin_pairs.test[:top])))} "
      f"of the top {top} pairs by correctness are among the top {top} by margin.",
      ""]
  lib.write(OUT, "\n".join(lines), dict(
      title="Memorization and train -> test influence on USPS (Feldman & Zhang)",
      command=command, seeds=f"{lanes} lanes", time=f"{lib.hours(trained)} training",
      verdict=f"top influence {pairs.influence[0]:.2f} ± {pairs.se[0]:.2f}; "
              f"{100 * same_label:.0f}% of the top {top} pairs share a label"))


if __name__ == "__main__":
  main()
