"""jaxmem against PyTorch, side by side on one machine, with equal work.

For each workload (model, batch size) and lane count, the training throughput
in lane-examples per second of:
  jaxmem        jaxmem's own train step, `lax.scan` over the steps, lanes run
                by jaxmem.execution with the automatic chunk (1 on CPU);
  jaxmem_vmap   the same with every lane in one vmap (chunk = lanes);
  torch_loop    PyTorch eager, one seed after another, all threads;
  torch_procs   one PyTorch process per core, one thread each, seeds split;
  torch_vmap    torch.func.vmap over the seeds' stacked parameters.
Same model (parameter counts equal), loss, SGD (momentum 0.9, or none with MSE
for LeCun 1989), batch size, steps and float32; random data already in memory
on both sides; no evaluation. Each cell is the median of --repeats timed runs
after a warm-up (compilation excluded and reported apart). `torch_loop` and
`torch_procs` run seeds independently, so their rate does not depend on the
lane count and is measured once. `% peak` is jaxmem's rate times the FLOPs of
one example's forward and backward pass (XLA's cost analysis of one lane's
step) over the measured float32 matmul rate. Writes JSON and Markdown.

  pip install -e '.[bench]'
  python scripts/bench_vs_torch.py --out=docs/benchmarks   # ~20 min on 2 cores
"""

import argparse
import json
import multiprocessing
import os
import pathlib
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch_models  # pylint: disable=g-import-not-at-top,wrong-import-position

from jaxmem import execution  # pylint: disable=wrong-import-position
from jaxmem import experiment  # pylint: disable=wrong-import-position
from jaxmem import steps as steps_lib  # pylint: disable=wrong-import-position
from jaxmem import train  # pylint: disable=wrong-import-position

# name -> (batch size, lane counts, lane-examples per timed run)
WORKLOADS = {
    "lenet1989": (1, (1, 8, 32, 128, 512), 20_000),
    "mlp_1x512": (128, (1, 8, 32, 128, 256), 100_000),
    "alexnet_small": (128, (1, 8, 32), 8_192),
}


def _median_time(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def matmul_peak(size: int = 2048, repeats: int = 10) -> float:
  """The measured float32 matmul rate in FLOP/s (jax, best of `repeats`)."""
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size))
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = min(_median_time(lambda: f(a).block_until_ready(), 1) for _ in range(repeats))
  return 2 * size ** 3 / best


def _config(name: str, lanes: int, steps: int, batch: int, chunk: int):
  _, shape, loss, lr, momentum = torch_models.WORKLOADS[name]
  c = experiment.base_config()
  c.dataset = "synthetic"
  c.synthetic.update(dict(num_train=steps * batch, num_test=batch,
                          shape=(shape[1], shape[2], shape[0])))
  c.update(dict(model=name, num_seeds=lanes, batch_size=batch, loss=loss,
                learning_rate=lr, momentum=momentum, lane_chunk=chunk))
  return c


def jaxmem_runner(name: str, lanes: int, steps: int, batch: int, chunk: int):
  """(run, compile seconds, FLOPs per example) for jaxmem's steps over lanes."""
  task, data, lane, state, _, _ = train.setup(_config(name, lanes, steps, batch, chunk))

  def steps_only(data, lane, state, epoch):
    order = jax.random.permutation(jax.random.fold_in(lane.keys["order"], epoch),
                                   steps * batch).reshape(steps, batch)
    step = lambda s, i: steps_lib.train_step(task, data, lane, s, i)
    state, (sums, _) = jax.lax.scan(step, state, order)
    return state, sums.sum(axis=0)
  start = time.perf_counter()
  fn = jax.jit(execution.over_lanes(steps_only, lanes, chunk), donate_argnums=(2,))
  compiled = fn.lower(data, lane, state, jnp.int32(0)).compile()
  compile_s = time.perf_counter() - start
  one = jax.tree.map(lambda x: x[0], (lane, state))
  cost = jax.jit(lambda s, i: steps_lib.train_step(task, data, one[0], s, i)).lower(
      one[1], jnp.arange(batch)).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  box = {"state": state}

  def run():
    box["state"], sums = compiled(data, lane, box["state"], jnp.int32(0))
    jax.block_until_ready(sums)
  run()  # Warm-up.
  return run, compile_s, float(cost["flops"]) / batch


def torch_loop(name: str, steps: int, batch: int, repeats: int) -> float:
  torch.set_num_threads(os.cpu_count())
  x, y = torch_models.data(name, steps, batch)
  torch_models.train_seed(name, x[:2], y[:2], 0)
  return steps * batch / _median_time(lambda: torch_models.train_seed(name, x, y, 1), repeats)


def torch_procs(name: str, steps: int, batch: int) -> float:
  """Rate of one process per core, one thread each, two seeds each."""
  procs, seeds = os.cpu_count(), 2
  ctx = multiprocessing.get_context("spawn")
  queue = ctx.Queue()
  workers = [ctx.Process(target=torch_models.worker,
                         args=(name, steps, batch, seeds, 1, queue)) for _ in range(procs)]
  for w in workers:
    w.start()
  seconds = max(queue.get() for _ in workers)
  for w in workers:
    w.join()
  return procs * seeds * steps * batch / seconds


def torch_vmap(name: str, lanes: int, steps: int, batch: int, repeats: int) -> float:
  torch.set_num_threads(os.cpu_count())
  x, y = torch_models.data(name, steps, batch)
  run = torch_models.vmap_trainer(name, lanes)
  run(x[:1], y[:1])
  return lanes * steps * batch / _median_time(lambda: run(x, y), repeats)


def bench_workload(name: str, lane_counts, repeats: int, peak: float) -> list[dict]:
  batch, _, work = WORKLOADS[name]
  rows = []
  seed_steps = max(2, work // (8 * batch))  # One seed's share in the loop variants.
  loop = torch_loop(name, seed_steps, batch, repeats)
  procs = torch_procs(name, seed_steps, batch)
  print(f"\n{name} (batch {batch}): torch_loop {loop:,.0f}, torch_procs {procs:,.0f} "
        "lane-examples/s", flush=True)
  for lanes in lane_counts:
    steps = max(2, work // (lanes * batch))
    row = dict(workload=name, batch=batch, lanes=lanes, steps=steps,
               torch_loop=loop, torch_procs=procs)
    for key, chunk in (("jaxmem", execution.lane_chunk(_config(name, lanes, steps, batch, 0), lanes)),
                       ("jaxmem_vmap", lanes)):
      if key == "jaxmem_vmap" and chunk == row.get("chunk"):
        row[key], row["compile_s_vmap"] = row["jaxmem"], row["compile_s"]
        continue
      run, compile_s, flops = jaxmem_runner(name, lanes, steps, batch, chunk)
      rate = lanes * steps * batch / _median_time(run, repeats)
      row.update({key: rate, ("compile_s" if key == "jaxmem" else "compile_s_vmap"): compile_s})
      if key == "jaxmem":
        row.update(chunk=chunk, flops_per_example=flops)
      del run
    # torch.func.vmap is slowest per step (about 350 steps/s on LeCun's net):
    # a quarter of the work keeps its runs to seconds; its rate is per example.
    row["torch_vmap_steps"] = max(2, work // (4 * lanes * batch))
    row["torch_vmap"] = torch_vmap(name, lanes, row["torch_vmap_steps"], batch, repeats)
    best = max(row["torch_loop"], row["torch_procs"], row["torch_vmap"])
    row["ratio_vs_best_torch"] = row["jaxmem"] / best
    row["peak_fraction"] = row["jaxmem"] * row["flops_per_example"] / peak
    print(_line(row), flush=True)
    rows.append(row)
  return rows


COLUMNS = ("lanes", "jaxmem", "jaxmem_vmap", "torch_loop", "torch_procs", "torch_vmap",
           "ratio_vs_best_torch", "peak_fraction", "compile_s")


def _cell(key: str, value) -> str:
  if key == "ratio_vs_best_torch":
    return f"{value:.2f}x"
  if key == "peak_fraction":
    return f"{100 * value:.0f}%"
  if key == "compile_s":
    return f"{value:.1f}"
  return f"{value:,.0f}" if isinstance(value, float) else str(value)


def _line(row: dict) -> str:
  return "  ".join(f"{k}={_cell(k, row[k])}" for k in COLUMNS)


def markdown(result: dict) -> str:
  m = result["machine"]
  lines = ["# Benchmarks: jaxmem vs PyTorch", "",
           f"Regenerated by `{result['command']}` on {result['date']}: {m['cpus']} "
           f"CPU cores ({m['processor']}), {m['backend']} backend, jax {m['jax']}, "
           f"torch {m['torch']}. Measured float32 matmul rate: "
           f"{result['peak_flops'] / 1e9:.0f} GFLOP/s. Rates are lane-examples per "
           "second (training only, median of "
           f"{result['repeats']} runs after a warm-up); `ratio` is jaxmem over the best "
           "PyTorch variant; `% peak` is jaxmem's FLOP rate over the matmul rate; "
           "`compile s` is jaxmem's compile time, excluded from the rates. See "
           "the script's docstring for the variants.", ""]
  for name in WORKLOADS:
    rows = [r for r in result["rows"] if r["workload"] == name]
    if not rows:
      continue
    lines += [f"## {name}, batch {rows[0]['batch']} "
              f"({rows[0]['flops_per_example'] / 1e6:.3g} MFLOP per example, forward "
              "and backward)", "",
              "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(k, r[k]) for k in COLUMNS) + " |" for r in rows]
    lines.append("")
  return "\n".join(lines)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workloads", default=",".join(WORKLOADS),
                      help=f"comma-separated, of {', '.join(WORKLOADS)}")
  parser.add_argument("--lanes", default="", help="override the lane counts, e.g. 1,8")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out", default="docs/benchmarks",
                      help="writes OUT.json and OUT.md")
  args = parser.parse_args()
  names = args.workloads.split(",")
  for name in names:
    if name not in WORKLOADS:
      sys.exit(f"bench_vs_torch: unknown workload {name!r}; valid: {', '.join(WORKLOADS)}")
  peak = matmul_peak()
  print(f"float32 matmul: {peak / 1e9:.0f} GFLOP/s", flush=True)
  rows = []
  for name in names:
    counts = tuple(int(l) for l in args.lanes.split(",")) if args.lanes else WORKLOADS[name][1]
    rows += bench_workload(name, counts, args.repeats, peak)
  result = dict(
      command="python scripts/bench_vs_torch.py " + " ".join(sys.argv[1:]),
      date=time.strftime("%Y-%m-%d"), repeats=args.repeats, peak_flops=peak,
      machine=dict(cpus=os.cpu_count(), processor=platform.processor() or platform.machine(),
                   backend=jax.default_backend(), jax=jax.__version__,
                   torch=torch.__version__, numpy=np.__version__),
      rows=rows)
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
  out.with_suffix(".md").write_text(markdown(result))
  print(f"\nwritten {out.with_suffix('.md')} and .json")


if __name__ == "__main__":
  main()
