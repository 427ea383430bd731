"""The whole command beside a PyTorch program doing the same job, as a user times them.

For each workload and lane count, one after the other in this one invocation
(so that the machine's drift over minutes touches both alike):
  jaxmem   the `jaxmem` command itself, in a fresh process and a fresh
           workdir: start-up, data, compiling, training, the per-epoch
           evaluation of both splits, the per-example records (forgetting,
           learning), metrics, the final checkpoint. Its wall time is split
           into start-up (everything before compiling), compile and the rest
           (summary.json's compile_s and train_s);
  torch    a plain PyTorch program, one seed: the same model (parameter
           counts pinned in tests/test_cifar_models.py and scripts/torch_models.py),
           loss, optimizer, batch size and epochs on the same real data, each
           epoch followed by an evaluation of both splits and the same
           per-example records (correct when presented, forgetting events,
           first epoch learned), all threads.
`seeds_per_torch_seed` is how many seeds jaxmem trains end to end in the time
PyTorch trains one: lanes x torch seconds / jaxmem seconds. Also, first:
the start-up of lecun1989_usps and zhang_usps (launch to the "compiled in"
line, less the compile, compile cache warm, best of 3), and what evaluating
costs per example against training (lenet1989, 64 lanes, one run evaluated
only after its last epoch). Writes the "end_to_end" section of
docs/benchmarks.md, every target with its figure and verdict. Workloads
(issue 16):
  lenet1989   LeNet-1989 on real USPS (7,291 / 2,007), batch 1, MSE, 3 epochs;
  mlp_1x512   MLP 1x512 on CIFAR-10 (10,000 / 2,000 of the JPEG copy), batch
              128, SGD momentum 0.9, 3 epochs;
  alexnet_small  Zhang's small AlexNet, the same recipe on 1,000 / 1,000 images;
  resnet18    the CIFAR ResNet-18 of toneva_cifar10_resnet18 on 1,000 / 1,000
              images, 3 epochs (jaxmem also pads and crops at random and
              flips, which the PyTorch program leaves out: a little more work
              on jaxmem's side).

  JAXMEM_DATA_DIR=../shared/data python scripts/bench_end_to_end.py          # ~50 min
  JAXMEM_DATA_DIR=../shared/data python scripts/bench_end_to_end.py --workloads=lenet1989 --lanes=1,64
"""

import argparse
import ast
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np  # pylint: disable=wrong-import-position
import results_lib as lib  # pylint: disable=wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

# name -> (sweep, jaxmem overrides, lane counts, torch model name)
WORKLOADS = {
    "lenet1989": ("lecun1989_usps", ["--config.num_epochs=3"], (1, 16, 64, 128),
                  "lenet1989"),
    "mlp_1x512": ("zhang_cifar10_mlp", [
        "--config.num_epochs=3", "--config.train_size=10000", "--config.test_size=2000",
        "--config.grid.condition=('true_labels',)", "--config.grid.weight_decay=(0.0,)"],
                  (1, 8, 64), "mlp_1x512"),
    "alexnet_small": ("zhang_cifar10_mlp", [
        "--config.model=alexnet_small", "--config.num_epochs=3",
        "--config.train_size=1000", "--config.test_size=1000",
        "--config.grid.condition=('true_labels',)", "--config.grid.weight_decay=(0.0,)"],
                      (1, 8), "alexnet_small"),
    "resnet18": ("toneva_cifar10_resnet18", [
        "--config.num_epochs=3", "--config.train_size=1000", "--config.test_size=1000"],
                 (1, 4), "resnet18"),
}


def jaxmem_run(sweep: str, overrides: list[str], lanes: int, root: pathlib.Path) -> dict:
  """Wall time of the command, and its own split of it."""
  workdir = root / f"{sweep}_{lanes}"
  shutil.rmtree(workdir, ignore_errors=True)
  flags = [f"--experiment={sweep}", *overrides, f"--config.num_seeds={lanes}"]
  env = dict(os.environ, JAXMEM_COMPILE_CACHE="off")  # A user's first run compiles.
  t = lib.timed_command(flags, workdir, env)
  config = json.loads((workdir / "config.json").read_text())
  startup = t["compiled_at"] - t["first_compile"]
  return dict(wall_s=t["wall_s"], lanes=len(config["lanes"]), compile_s=t["compile_s"],
              train_s=t["train_s"], startup_s=startup,
              finish_s=t["wall_s"] - t["compiled_at"] - (t["compile_s"] - t["first_compile"])
              - t["train_s"],
              command=" ".join(["jaxmem", *flags]))


def startup(sweep: str, root: pathlib.Path, rounds: int = 3) -> float:
  """Issue 26's start-up: launch to the "compiled in" line, less the compile,
  with the compile cache warm (a first run fills it), the best of `rounds`."""
  env = dict(os.environ, JAXMEM_COMPILE_CACHE=str(root / "xla_cache"))
  flags = [f"--experiment={sweep}", "--config.num_epochs=1", "--config.num_seeds=8"]
  times = [lib.timed_command(flags, root / f"startup_{sweep}_{r}", env)
           for r in range(rounds + 1)]
  return min(t["compiled_at"] - t["first_compile"] for t in times[1:])  # [0] fills the cache.


def eval_vs_train(sweep: str, overrides: list[str], lanes: int, root: pathlib.Path) -> dict:
  """Per example, what evaluating both splits costs against training, from one
  run evaluated only after its last epoch: its epochs' elapsed times give an
  epoch of training alone, and the last epoch's extra is the evaluation."""
  workdir = root / f"{sweep}_{lanes}_eval"
  epochs = 3
  lib.timed_command([f"--experiment={sweep}", *overrides, f"--config.num_epochs={epochs}",
                     f"--config.eval_every_epochs={epochs}", f"--config.num_seeds={lanes}"],
                    workdir)
  elapsed = {}
  for line in (workdir / "metrics.jsonl").read_text().splitlines():
    row = json.loads(line)
    elapsed[row["epoch"]] = row["elapsed_s"]
  config = json.loads((workdir / "config.json").read_text())
  n_train, n_test = config["dataset"]["train_shape"][0], config["dataset"]["test_shape"][0]
  train_epoch = elapsed[2] - elapsed[1]
  evaluation = elapsed[3] - elapsed[2] - train_epoch
  return dict(train_ms=1e3 * train_epoch / n_train,
              eval_ms=1e3 * evaluation / (n_train + n_test), lanes=lanes)


def _value(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def torch_run(sweep: str, overrides: list[str], model: str) -> dict:
  """One PyTorch seed doing the same job on the same arrays."""
  import torch  # pylint: disable=g-import-not-at-top
  import torch_models  # pylint: disable=g-import-not-at-top
  from jaxmem import datasets  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  # The same --config.* overrides, as values (ast.literal_eval, as flags parse them).
  config = lib.sweep_config(sweep, {
      flag[len("--config."):].split("=", 1)[0]: _value(flag.split("=", 1)[1])
      for flag in overrides})
  ds = datasets.load(config.dataset, train_size=config.train_size or None,
                     test_size=config.test_size or None)
  to = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
  xtr, xte = to(ds.train.images), to(ds.test.images)
  if config.preprocess.crop:  # jaxmem crops at random in training: the same work.
    off = (xtr.shape[-1] - config.preprocess.crop) // 2
    crop = lambda x: x[..., off:off + config.preprocess.crop, off:off + config.preprocess.crop]
    xtr, xte = crop(xtr), crop(xte)
  if config.preprocess.normalize == "minus_one_one":
    xtr, xte = xtr * 2 - 1, xte * 2 - 1
  elif config.preprocess.normalize == "standardize":
    std = lambda x: (x - x.mean((1, 2, 3), keepdim=True)) / x.std((1, 2, 3), keepdim=True).clamp_min(1e-6)
    xtr, xte = std(xtr), std(xte)
  ytr, yte = torch.from_numpy(ds.train.labels.astype(np.int64)), torch.from_numpy(
      ds.test.labels.astype(np.int64))
  cls, _, loss_kind, _, _ = torch_models.WORKLOADS[model]
  torch.set_num_threads(os.cpu_count())
  torch.manual_seed(0)
  net = cls()
  opt = torch.optim.SGD(net.parameters(), lr=config.learning_rate, momentum=config.momentum)
  n, batch = len(ytr), config.batch_size
  last = np.full(n, -1, np.int8)
  forgetting = np.zeros(n, np.int32)
  first = np.full(n, -1, np.int32)
  setup_s = time.perf_counter() - start
  start = time.perf_counter()
  for epoch in range(config.num_epochs):
    net.train()
    order = torch.randperm(n)
    for b in range(n // batch):
      idx = order[b * batch:(b + 1) * batch]
      opt.zero_grad(set_to_none=True)
      logits = net(xtr[idx])
      torch_models._loss(loss_kind, logits, ytr[idx]).backward()  # pylint: disable=protected-access
      opt.step()
      correct = (logits.argmax(1) == ytr[idx]).numpy().astype(np.int8)
      i = idx.numpy()
      forgetting[i] += (last[i] == 1) & (correct == 0)
      last[i] = correct
    net.eval()
    with torch.no_grad():
      for x, y in ((xtr, ytr), (xte, yte)):
        right = torch.cat([net(x[j:j + 2048]).argmax(1) == y[j:j + 2048]
                           for j in range(0, len(y), 2048)]).numpy()
        if x is xtr:
          first[(first < 0) & right] = epoch + 1
  return dict(train_s=time.perf_counter() - start, setup_s=setup_s)


def targets(rows: list[dict]) -> list[str]:
  """Issue 16's end-to-end targets, each with its measured figure and verdict."""
  by = lambda name: [r for r in rows if r["workload"] == name]
  verdict = lambda ok: "**met**" if ok else "**missed**"
  out = []
  lenet = [r for r in by("lenet1989") if r["lanes"] == 64]
  if lenet:
    x = lenet[0]["seeds_per_torch_seed"]
    out.append(f"- lenet1989, 64 lanes >= 64x one PyTorch seed: {x:.1f}x, {verdict(x >= 64)}.")
  grow = {r["lanes"]: r["lanes"] / r["wall_s"] for r in by("lenet1989")}
  if 64 in grow and 128 in grow:
    out.append(f"- lenet1989, lane-examples/s still growing from 64 to 128 lanes (whole "
               f"command): {grow[128] / grow[64]:.2f}x, {verdict(grow[128] > grow[64])}.")
  mlp = by("mlp_1x512")
  if mlp:
    ratios = [r["seeds_per_torch_seed"] for r in mlp]
    out.append("- mlp_1x512, >= 1.1x the PyTorch loop at every lane count: "
               + ", ".join(f"{r['lanes']}: {x:.2f}x" for r, x in zip(mlp, ratios))
               + f", {verdict(min(ratios) >= 1.1)}. Its step's share of the matmul "
               "rate is the step benchmark's (`python scripts/bench_vs_torch.py`, "
               "targets above).")
  alex = [r for r in by("alexnet_small") if r["lanes"] == 8]
  if alex:
    x = alex[0]["seeds_per_torch_seed"]
    out.append(f"- alexnet_small, 8 lanes >= 1.0x the PyTorch loop: {x:.2f}x, "
               f"{verdict(x >= 1.0)}.")
  for r in by("resnet18"):
    out.append(f"- resnet18 (no target), {r['lanes']} lanes: "
               f"{r['seeds_per_torch_seed']:.2f}x the PyTorch loop.")
  out.append("- input-corruption lanes <= 1.2x clean lanes: section `corruption` "
             "(`scripts/bench_corruption.py`).")
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workloads", default=",".join(WORKLOADS))
  parser.add_argument("--lanes", default="", help="override the lane counts, e.g. 1,64")
  parser.add_argument("--page", default=str(PAGE))
  parser.add_argument("--no_startup", action="store_true",
                      help="skip the start-up and evaluation-vs-training measurements")
  args = parser.parse_args()
  for name in args.workloads.split(","):
    if name not in WORKLOADS:
      sys.exit(f"bench_end_to_end: unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
  root = pathlib.Path(tempfile.mkdtemp(prefix="jaxmem_e2e_"))
  rows, starts, evaluated = [], {}, None
  try:
    if not args.no_startup:
      starts = {sweep: startup(sweep, root) for sweep in ("lecun1989_usps", "zhang_usps")}
      print("start-up:", {k: round(v, 2) for k, v in starts.items()}, flush=True)
    if "lenet1989" in args.workloads.split(",") and not args.no_startup:
      sweep, overrides, _, _ = WORKLOADS["lenet1989"]
      evaluated = eval_vs_train(sweep, [o for o in overrides if "num_epochs" not in o],
                                64, root)
      print("evaluation vs training:", evaluated, flush=True)
    for name in args.workloads.split(","):
      sweep, overrides, counts, model = WORKLOADS[name]
      counts = tuple(int(l) for l in args.lanes.split(",")) if args.lanes else counts
      for lanes in counts:
        j = jaxmem_run(sweep, overrides, lanes, root)
        t = torch_run(sweep, overrides, model)  # Beside it, every time.
        torch_total = t["setup_s"] + t["train_s"]
        rows.append(dict(workload=name, **j, torch_s=torch_total,
                         seeds_per_torch_seed=j["lanes"] * torch_total / j["wall_s"]))
        r = rows[-1]
        print(f"{name} {r['lanes']:4d} lanes: jaxmem {r['wall_s']:.0f} s wall (start-up "
              f"{r['startup_s']:.0f}, compile {r['compile_s']:.0f}, train+eval+records "
              f"{r['train_s']:.0f}); torch one seed {torch_total:.0f} s; "
              f"{r['seeds_per_torch_seed']:.1f} seeds per torch seed", flush=True)
  finally:
    shutil.rmtree(root, ignore_errors=True)
  lines = [
      f"Measured on {lib.machine()}; the jaxmem command "
      "in a fresh process with the compile cache off (a user's first run), then "
      "the PyTorch program (one seed, all threads), for each row. Command: "
      f"`JAXMEM_DATA_DIR=../shared/data python scripts/bench_end_to_end.py "
      f"{' '.join(sys.argv[1:])}`.", "",
      "| workload | lanes | jaxmem wall s | start-up s | compile s | train, eval, records s "
      "| results written s | PyTorch one seed s | seeds per PyTorch seed |",
      "|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['workload']} | {r['lanes']} | {r['wall_s']:.1f} | {r['startup_s']:.1f} "
                 f"| {r['compile_s']:.1f} | {r['train_s']:.1f} | {r['finish_s']:.1f} | "
                 f"{r['torch_s']:.1f} | {r['seeds_per_torch_seed']:.1f}x |")
  lines += ["", "`seeds per PyTorch seed` is lanes x PyTorch's seconds / jaxmem's "
            "wall seconds: jaxmem's seeds per second over a PyTorch loop's (its seeds "
            "one after another, all threads), the whole command included. PyTorch's "
            "time starts at its data loading inside this process: its interpreter's "
            "start and `import torch` are not counted, while jaxmem's start-up is. "
            "Start-up: launch to the `compiled in N s` line, less N (with the "
            "cache off, the setup program's compile falls in it); compile: every "
            "program's (summary.json); results written: after the last epoch "
            "(examples.npz, summary, the final checkpoint).", "",
            "Targets (issues 16 and 26):", ""]
  lines += targets(rows)
  for sweep, seconds in starts.items():
    lines.append(f"- start-up <= 2 s, `{sweep}` (8 lanes, compile cache warm, best of 3): "
                 f"{seconds:.2f} s, {'**met**' if seconds <= 2 else '**missed**'}.")
  if evaluated:
    e = evaluated
    lines.append(f"- evaluation at the speed of training or better, lenet1989 at "
                 f"{e['lanes']} lanes, per example: evaluating both splits "
                 f"{e['eval_ms']:.2f} ms, training {e['train_ms']:.2f} ms, "
                 f"{'**met**' if e['eval_ms'] <= e['train_ms'] else '**missed**'}.")
  lines += ["", "jaxmem commands (plus `--config.num_seeds=LANES --workdir=...`):", ""]
  lines += sorted({f"- `{r['command'].split(' --config.num_seeds')[0]}`" for r in rows})
  lib.publish_section(args.page, "end_to_end", "python scripts/bench_end_to_end.py", lines)


if __name__ == "__main__":
  main()
