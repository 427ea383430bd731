"""docs/results/difficulty_usps.md: do the per-example difficulty measures agree? (USPS)

Trains sweep difficulty_usps (an MLP 1x512 on USPS, 32 lanes per run, each on
its own random subset) at subset ratios 0.25, 0.5 and 0.75, pools the 96 lanes
into one difficulty table, and reports the Spearman correlations between its
measures (the numbers the README's "Per-example analysis" quotes). Then what
changed when the measures were checked against their authors' code, and by
how much, on these same runs:
  * prediction depth: the k-NN support set is now each lane's own training
    subset with its labels, and the last probe the softmax, as Baldock et al.
    describe (before: all N examples, and the logits);
  * first learned: now Toneva's (the first epoch with a correct presentation),
    beside the old measure, renamed first_correct (the first epoch correct at
    its end);
  * forgetting of examples never learned: Toneva's code counts the number of
    epochs; jaxmem counted the presentations (fewer, where an epoch's dropped
    remainder skipped the example).
Reuses finished runs in --root. About 25 minutes on 2 CPU cores.

  JAXMEM_DATA_DIR=../shared/data python scripts/results_difficulty.py
"""

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import results_lib as lib  # pylint: disable=wrong-import-position
from jaxmem import run as run_lib  # pylint: disable=wrong-import-position
from jaxmem import steps  # pylint: disable=wrong-import-position
from jaxmem.analysis import difficulty  # pylint: disable=wrong-import-position
from jaxmem.analysis import table  # pylint: disable=wrong-import-position
from jaxmem.measures import depth as depth_lib  # pylint: disable=wrong-import-position
from jaxmem.workdir import files  # pylint: disable=wrong-import-position

OUT = "difficulty_usps.md"
SWEEP = "difficulty_usps"
K = 30


def old_and_new_depth(workdir, data_dir) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Every lane's prediction depth both ways: (all-N support, logits probe),
  (own subset, logits probe), and today's (own subset, softmax probe)."""
  the_run = run_lib.Run.from_workdir(workdir, data_dir)
  task, data = the_run.task, the_run.data
  n = data.train_labels.shape[0]

  @jax.jit
  def one(lane, state):
    x = steps.inputs(task, data, lane, jnp.arange(n), "train", None)
    logits, emb = steps.forward(task, steps.variables(state), x, train=False,
                                return_embeddings=True)
    pred = jnp.argmax(logits, axis=-1)
    own = jnp.full([n], -1, jnp.int32).at[lane.subset].set(
        jnp.arange(lane.subset.shape[0], dtype=jnp.int32))
    labels = lane.labels[lane.subset]
    out = []
    for last, support_all in ((logits, True), (logits, False),
                              (jax.nn.softmax(logits), False)):
      probes = list(emb[:-1]) + [last]
      if support_all:
        guess = [depth_lib.knn_predict(e, e, lane.labels, K, task.num_classes,
                                       jnp.arange(n, dtype=jnp.int32)) for e in probes]
      else:
        guess = [depth_lib.knn_predict(e, e[lane.subset], labels, K, task.num_classes,
                                       own) for e in probes]
      out.append(depth_lib.depth_from_agreement(jnp.stack(guess) == pred[None]))
    return out
  found = [[], [], []]
  # Host copies, so each lane's program runs on one device: no collective
  # between the devices' threads, which XLA aborts after 40 s on a busy CPU.
  lanes, states = the_run.host((the_run.constants, the_run.state.train))
  for i in range(the_run.num_lanes):
    lane, state = jax.tree.map(lambda x: x[i], (lanes, states))
    for j, d in enumerate(one(lane, state)):
      found[j].append(np.asarray(d))
  return tuple(np.stack(f) for f in found)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--root", default="runs/results")
  parser.add_argument("--data_dir", default=None)
  args = parser.parse_args()
  lib.setup()
  ratios = (0.25, 0.5, 0.75)
  wds = [lib.run(SWEEP, args.root, dict(subset_ratio=r), args.data_dir,
                 folder=f"difficulty_usps_{r:g}") for r in ratios]
  start = time.perf_counter()
  result = difficulty.analyze([str(w) for w in wds], out=str(pathlib.Path(args.root) /
                                                          "difficulty_usps_analysis"),
                          data_dir=args.data_dir, k=K)
  group = result.group()  # Clean labels only: one group.
  cols, names, matrix = group.columns, group.names, group.correlations
  # What changed, on the same lanes.
  depths = [old_and_new_depth(w, args.data_dir) for w in wds]
  old_all, old_subset, new = (np.concatenate([d[i] for d in depths]) for i in range(3))
  masks = np.concatenate([r["mask"] for r in group.per_lane])
  examples = [files.Workdir(w).read_examples() for w in wds]
  mean = lambda d: table.lane_stats(d, masks)[0]
  hard = 1 - cols["cscore"]
  depth_rows = [
      ("all N examples, logits (before)", old_all), ("own subset, logits", old_subset),
      ("own subset, softmax (now)", new)]
  # Training from the runs' own summaries (they may be reused); analysis is
  # this invocation's, with any stage an earlier one cached reused.
  trained = lib.training_seconds(wds)
  elapsed = time.perf_counter() - start
  first_toneva, first_end = cols["first_learned_mean"], cols["first_correct_mean"]
  presentations = np.concatenate([e["presentations"] for e in examples])
  never = ~np.concatenate([e["ever_learned"] for e in examples])
  epochs = int(examples[0]["epochs"])
  changed = never & masks & (presentations != epochs)
  tests = [lib.summary(w)["points"][0]["test_acc"] for w in wds]
  order = np.argsort(cols["cscore"])[:100]
  top_decile = cols["forgetting_mean"] >= np.nanquantile(cols["forgetting_mean"], 0.9)
  command = ("JAXMEM_DATA_DIR=../shared/data python scripts/results_difficulty.py "
             + " ".join(sys.argv[1:])).strip()
  lines = [
      "# Do the per-example difficulty measures agree? USPS, 96 lanes", "",
      f"Regenerated by `{command}` ({lib.machine()}; {lib.hours(trained)} of "
      f"training, {lib.hours(elapsed)} of analysis). Sweep "
      f"`{SWEEP}`: an MLP 1x512 on the 7291 USPS training digits, 32 lanes at each "
      "subset ratio 0.25, 0.5 and 0.75 (each lane on its own random subset), "
      "30 epochs; test accuracy "
      + ", ".join(f"{r:g}: {lib.pm(t)}%" for r, t in zip(ratios, tests)) + ".", "",
      "## Spearman correlations (each measure signed so that larger is harder)", "",
      table.correlation_table(names, matrix), "",
      f"- {int(top_decile[order].sum())} of the 100 digits with the lowest C-scores "
      "are in the top tenth by forgetting events.",
      f"- C-score coverage: every digit held out by {int(cols['heldout_lanes'].min())} "
      f"to {int(cols['heldout_lanes'].max())} lanes.", "",
      "## What changed, and by how much", "",
      "**Prediction depth** (Baldock et al. 2021; k = 30). The probes' support "
      "set is now each lane's own training subset with the labels it trained on "
      "(before: all 7291 digits, including those the lane held out), and the "
      "last probe is the softmax output, as the paper probes it (before: the "
      "logits). On the same 96 lanes:", "",
      "| definition | mean depth | lane-example pairs with the new depth | Spearman of the table's depth with today's | with 1 - C-score |",
      "|---|---|---|---|---|"]
  for label, d in depth_rows:
    lines.append(f"| {label} | {d[masks].mean():.3f} | "
                 f"{100 * np.mean(d[masks] == new[masks]):.1f}% | "
                 f"{table.spearman(mean(d), mean(new)):+.3f} | "
                 f"{table.spearman(mean(d), hard):+.3f} |")
  lines += [
      "", "**First learned.** `first_learned` is now Toneva et al.'s: the first "
      "epoch in which a presentation, in the training pass, was right. The "
      "measure jaxmem called first learned before, the first epoch at whose end "
      "the example is right, is `first_correct`. Over the digits: Spearman "
      f"{table.spearman(first_toneva, first_end):+.3f} between the two; with "
      f"1 - C-score {table.spearman(first_toneva, hard):+.3f} (Toneva's) and "
      f"{table.spearman(first_end, hard):+.3f} (end of epoch).", "",
      "**Forgetting of examples never learned.** Toneva's code counts such an "
      "example as forgotten at every epoch; jaxmem counted its presentations. "
      f"They differ on {int(changed.sum())} of {int(masks.sum())} lane-example "
      f"pairs ({100 * changed.sum() / masks.sum():.3f}%): those never learned "
      "and skipped by some epoch's dropped remainder.", ""]
  lib.write(OUT, "\n".join(lines), dict(
      title="Difficulty measures agree (USPS, 96 lanes); what the checks changed",
      command=command, seeds="96 lanes",
      time=f"{lib.hours(trained)} training, {lib.hours(elapsed)} analysis",
      verdict=f"forgetting vs 1 - C-score {matrix[names.index('forgetting_mean'), names.index('cscore')]:+.2f}"
      if "cscore" in names else "see page"))


if __name__ == "__main__":
  main()
