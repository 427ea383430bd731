"""What the per-example scores cost: the whole `jaxmem` command with and without them.

Runs sweep label_errors_fashion_mnist (an MLP 1x512 on 10,000 Fashion-MNIST
images, batch 128), shortened to --epochs epochs and --seeds seeds per noise
level, as four commands that differ only in config.scores:

- `none`: no scores;
- `training`: every training-time score (AUM, data maps, mean loss and
  entropy: the margin, probability, loss and entropy of each presentation
  go into accumulators, inside the epoch's scan);
- `+ el2n`: the same plus EL2N after the last epoch (one eval-mode pass over
  the training split);
- `+ grand`: the same plus GraNd after the last epoch (a per-example gradient
  pass, `vmap(grad)` over chunks of config.scores.grand_chunk examples).

The commands run in turn, round after round (none, training, + el2n,
+ grand, none, ...), so that a drift of the machine's speed touches every
one; each figure is the median over rounds. Wall time is the whole command
(start-up, data, compiling, training, evaluation, writing), as a user waits
for it; train s is summary.json's training loop (epochs, evaluation and the
measures after each epoch). The target (issue 24): `training` at most 1.3x
`none`. EL2N's and GraNd's cost is given apart, per pass. Writes the "scores"
section of docs/benchmarks.md.

  JAXMEM_DATA_DIR=../shared/data python scripts/bench_scores.py   # ~7 min, 2 cores
"""

import argparse
import json
import pathlib
import statistics
import tempfile

import results_lib as lib  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SWEEP = "label_errors_fashion_mnist"
TRAINING = "('aum','data_map','loss','entropy')"


def variants(epochs: int) -> dict[str, list[str]]:
  """Name -> the config.scores flags of that command."""
  none = ["--config.scores.names=()", "--config.scores.el2n_epochs=()",
          "--config.scores.grand_epochs=()"]
  return {
      "none": none,
      "training": [f"--config.scores.names={TRAINING}", *none[1:]],
      "+ el2n": [f"--config.scores.names={TRAINING[:-1]},'el2n')",
                 f"--config.scores.el2n_epochs=({epochs},)", none[2]],
      "+ grand": [f"--config.scores.names={TRAINING[:-1]},'grand')", none[1],
                  f"--config.scores.grand_epochs=({epochs},)"],
  }


def run_once(flags: list[str], workdir: str, args) -> dict:
  """One whole command; its wall time and summary.json's timings."""
  return lib.timed_command(
      [f"--experiment={SWEEP}", f"--config.num_epochs={args.epochs}",
       f"--config.num_seeds={args.seeds}", f"--config.eval_every_epochs={args.epochs}",
       *flags], workdir)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--epochs", type=int, default=6)
  parser.add_argument("--seeds", type=int, default=4, help="seeds per noise level (2 levels)")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  command = lib.real_data_command("Fashion-MNIST")
  lib.setup()  # As the commands it times: a device per core (for the page's machine line).
  runs = variants(args.epochs)
  times = {name: [] for name in runs}
  with tempfile.TemporaryDirectory() as tmp:
    for r in range(args.rounds):
      for name, flags in runs.items():
        folder = f"{tmp}/{r}_{name.strip('+ ')}"
        times[name].append(run_once(flags, folder, args))
        print(f"round {r + 1}/{args.rounds} {name}: "
              f"{json.dumps({k: round(v, 2) for k, v in times[name][-1].items() if v})}",
              flush=True)
  median = {name: {key: statistics.median(t[key] for t in ts)
                   for key in ("wall_s", "train_s", "compile_s")}
            for name, ts in times.items()}
  # Wall time against `none` round by round (paired), then the median: a
  # drift of the machine's speed between rounds cancels.
  paired = {name: statistics.median(t["wall_s"] / n["wall_s"]
                                    for t, n in zip(ts, times["none"]))
            for name, ts in times.items()}
  base, train = median["none"], median["training"]
  lanes = 2 * args.seeds
  lane_examples = lanes * 10_000
  ratio = paired["training"]
  verdict = "**met**" if ratio <= 1.3 else "**missed**"
  rows = [f"| {name} | {m['wall_s']:.1f} | {paired[name]:.2f}x | "
          f"{m['compile_s']:.1f} | {m['train_s']:.1f} | {m['train_s'] / base['train_s']:.2f}x |"
          for name, m in median.items()]

  spread = max(t["train_s"] for t in times["none"]) - min(t["train_s"] for t in times["none"])

  def per_pass(name: str) -> str:
    extra = median[name]["wall_s"] - train["wall_s"]
    extra_train = median[name]["train_s"] - train["train_s"]
    if extra_train <= spread:
      return (f"{extra_train:+.1f} s in the training loop, within the rounds' own "
              f"spread ({spread:.1f} s between the fastest and slowest `none`): too "
              "small to measure at this size")
    return (f"{extra:.1f} s of wall time ({extra_train:.1f} s of it in the training loop), "
            f"{1e6 * extra_train / lane_examples:.0f} µs per lane-example")
  lines = [
      "## Per-example scores: what they cost",
      "",
      f"`{command}` on {lib.machine()}: sweep `{SWEEP}` (MLP 1x512, 10,000 Fashion-MNIST "
      f"images, batch 128) for {args.epochs} epochs, {lanes} lanes, evaluated at the end; "
      "the whole command, median of "
      f"{args.rounds} rounds, the four commands in turn within each round; "
      "`wall vs none` is the median of each round's ratio. Compiled programs "
      "come from the persistent compile cache once a round (or an earlier run) "
      "has made them, as on a user's second run.",
      "",
      "| config.scores | wall s | wall vs none | compile s | train s | train vs none |",
      "|---|---|---|---|---|---|",
      *rows,
      "",
      f"- Every training-time score on (AUM, data maps, mean loss, entropy): "
      f"{ratio:.2f}x the command without scores, paired by round (target at most 1.3x, {verdict}); "
      f"the training loop alone {train['train_s'] / base['train_s']:.2f}x. The "
      "margin, probability, loss and entropy of each presentation come from the "
      "logits the step computes anyway; what costs is carrying them out of the "
      "scan and updating four [lanes, N] accumulators after each epoch, and "
      "compiling that program.",
      f"- One EL2N pass over the training split ({lanes} lanes x 10,000 examples): "
      f"{per_pass('+ el2n')}.",
      f"- One GraNd pass: {per_pass('+ grand')}. It runs only at "
      "config.scores.grand_epochs.",
  ]
  lib.publish_section(args.page, "scores", "scripts/bench_scores.py", lines)
  print(json.dumps(dict(median=median, rounds=times), indent=1))


if __name__ == "__main__":
  main()
