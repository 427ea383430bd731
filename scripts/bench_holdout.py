"""A hold-out run end to end: evaluation every epoch vs final only, and before.

Times the whole `jaxmem` command (start-up, data, compiling, training,
evaluation, records, checkpoints), one setting after the other in one
invocation so that the machine's drift cancels, on the hold-out run that the
records issue measured: CIFAR-10 (the first 10,000 JPEG images), MLP 1x512,
32 lanes each on its own random half (subset_ratio 0.5), 15 epochs.

  before      jaxmem as of --before (default 0ace575, the last commit before
              the on-device accumulators: every epoch evaluates both splits and
              the host gathers per-epoch arrays), from a git worktree;
  every       today's jaxmem, evaluating both splits every epoch;
  final_only  today's jaxmem with --config.eval_every_epochs=15 (the hold-out
              estimators need only the final evaluation).

Writes docs/benchmarks.md's "holdout" section.

  JAXMEM_DATA_DIR=../shared/data python scripts/bench_holdout.py   # ~15 min
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import results_lib as lib  # pylint: disable=wrong-import-position

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAGS = ["--experiment=difficulty_usps", "--config.dataset=cifar10",
         "--config.train_size=10000", "--config.model=mlp_1x512",
         "--config.subset_ratio=0.5", "--config.num_seeds=32",
         "--config.num_epochs=15", "--config.batch_size=128",
         "--config.critical.every_epochs=0", "--config.learning_rate=0.01"]


def timed(command: list[str], cwd: pathlib.Path, workdir: str) -> dict:
  data = os.path.abspath(os.environ.get("JAXMEM_DATA_DIR", "../shared/data"))
  env = dict(os.environ, JAXMEM_OFFLINE="1", PYTHONPATH=str(cwd), JAXMEM_DATA_DIR=data)
  start = time.perf_counter()
  out = subprocess.run([sys.executable, "-m", "jaxmem", *command, f"--workdir={workdir}"],
                       cwd=cwd, env=env, capture_output=True, text=True, check=False)
  wall = time.perf_counter() - start
  if out.returncode:
    raise SystemExit(f"{command} failed:\n{out.stderr[-3000:]}")
  summary = json.loads(pathlib.Path(workdir, "summary.json").read_text())
  return dict(wall_s=wall, train_s=summary["train_s"], compile_s=summary["compile_s"],
              test_acc=summary["points"][0]["test_acc"]["mean"])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--before", default="0ace575")
  parser.add_argument("--after", default="HEAD", help="today's jaxmem: a commit, "
                      "checked out in a worktree too, so that the tree may change meanwhile")
  parser.add_argument("--page", default=str(ROOT / "docs" / "benchmarks.md"))
  args = parser.parse_args()
  lane_examples = 32 * 5000 * 15
  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    old, new = pathlib.Path(tmp) / "before", pathlib.Path(tmp) / "after"
    for path, commit in ((old, args.before), (new, args.after)):
      subprocess.run(["git", "worktree", "add", "--detach", str(path), commit],
                     cwd=ROOT, check=True, capture_output=True)
    try:
      settings = [("before", old, FLAGS), ("every", new, FLAGS),
                  ("final_only", new, FLAGS + ["--config.eval_every_epochs=15"])]
      for name, cwd, flags in settings:
        print(f"{name}: training", flush=True)
        results[name] = timed(flags, cwd, f"{tmp}/{name}")
        print(name, results[name], flush=True)
    finally:
      for path in (old, new):
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
                       check=False, capture_output=True)
  base = lane_examples / results["before"]["wall_s"]
  rows = []
  for name, r in results.items():
    rate = lane_examples / r["wall_s"]
    rows.append(f"| {name} | {r['wall_s']:.0f} | {r['compile_s']:.1f} | "
                f"{r['train_s']:.0f} | {rate:,.0f} | {rate / base:.2f}x | "
                f"{100 * r['test_acc']:.2f} |")
  speedup = lane_examples / results["final_only"]["wall_s"] / base
  command = "JAXMEM_DATA_DIR=../shared/data python scripts/bench_holdout.py " + \
      " ".join(sys.argv[1:])
  text = f"""## A hold-out run end to end

`{command.strip()}` on {lib.machine()}: the whole `jaxmem` command, one setting
after the other. CIFAR-10 (first 10,000 JPEG images), MLP 1x512, 32 lanes each
on its own random half, 15 epochs, batch 128: {lane_examples:,} lane-examples
trained per run. Rates are lane-examples trained per second of the whole
command (start-up, data, compiling, evaluation and records included).
`before` is jaxmem at {args.before} (every epoch evaluates both splits and the
host gathers per-epoch arrays); `every` is jaxmem at {args.after} with the same
evaluation; `final_only` evaluates only after the last epoch
(`--config.eval_every_epochs=15`), which is all a hold-out estimate needs.

| setting | wall s | compile s | train s | lane-examples/s | vs before | test acc % |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Final-only evaluation is {speedup:.2f}x `before` end to end (target >= 2x,
{'**met**' if speedup >= 2 else '**missed**'}).
"""
  lib.write_section(args.page, "holdout", "scripts/bench_holdout.py", text)
  print(f"written the holdout section of {args.page}")


if __name__ == "__main__":
  main()
