"""The accelerator check: jaxmem's lanes beside PyTorch on one GPU (or a CPU smoke run).

On synthetic data already on the device, for each workload and lane count:
  jaxmem       jaxmem's own train step, `lax.scan` over an epoch's steps, the
               lanes with jaxmem's automatic chunk (execution.plan);
  torch_loop   PyTorch eager on the same device, one seed after another;
  torch_vmap   torch.func.vmap over the seeds' stacked parameters.
Rates are lane-examples per second (median of --repeats timed runs after a
warm-up; compile time reported apart). Then a chunked run of more lanes than
fit in the device's memory at once (`config.lane_chunk`), with the memory
that all of them vmapped together would need, from XLA's memory analysis.
Writes docs/benchmarks_gpu.md (or --page). `scripts/accelerator_check.sh`
is the one command to run on the GPU machine.

  bash scripts/accelerator_check.sh            # on a GPU: under 8 minutes
  bash scripts/accelerator_check.sh --smoke --page=/tmp/gpu.md   # CPU, ~1 min
"""

import argparse
import os
import pathlib
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position

import bench_vs_torch as bench  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch_models  # pylint: disable=g-import-not-at-top,wrong-import-position

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "benchmarks_gpu.md"

# name -> (batch, lane counts on a GPU, lane counts in the smoke run)
WORKLOADS = {
    "lenet1989": (1, (1, 16, 128, 1024), (2,)),
    "mlp_1x512": (128, (1, 16, 64, 256), (1, 2)),
    "resnet18": (128, (1, 4, 16, 32), (1,)),
}
# Lane-examples per timed run (each lane gets its share, at least 2 steps).
WORK = {"lenet1989": 200_000, "mlp_1x512": 2_000_000, "resnet18": 100_000}
SMOKE_WORK = {"lenet1989": 64, "mlp_1x512": 512, "resnet18": 16}
SMOKE_BATCH = {"resnet18": 8}  # The CPU's ResNet-18 is slow: compile-bound smoke.


def _median(fn, repeats: int, sync) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    sync()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def torch_rates(name, lanes, steps, batch, repeats, device):
  """(loop, vmap) lane-examples/s of PyTorch on `device`."""
  sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
  x, y = torch_models.data(name, steps, batch, device=device)
  torch_models.train_seed(name, x[:1], y[:1], 0, device=device)
  loop = steps * batch / _median(
      lambda: torch_models.train_seed(name, x, y, 1, device=device), repeats, sync)
  run = torch_models.vmap_trainer(name, lanes, device=device)
  run(x[:1], y[:1])
  vmap = lanes * steps * batch / _median(lambda: run(x, y), repeats, sync)
  return loop, vmap


def row(name, lanes, repeats, device, smoke):
  batch = SMOKE_BATCH.get(name, WORKLOADS[name][0]) if smoke else WORKLOADS[name][0]
  work = (SMOKE_WORK if smoke else WORK)[name]
  steps = max(2, work // (lanes * batch))
  run, compile_s, _, plan = bench.jaxmem_runner(name, lanes, steps, batch, 0)
  rate = lanes * steps * batch / _median(run, repeats, lambda: None)
  del run
  loop, vmap = torch_rates(name, lanes, steps, batch, repeats, device)
  return dict(workload=name, batch=batch, lanes=lanes, steps=steps, chunk=plan.chunk,
              devices=plan.num_devices, jaxmem=rate, compile_s=compile_s,
              torch_loop=loop, torch_vmap=vmap, vs_one_torch_seed=rate / loop,
              vs_torch_vmap=rate / vmap)


def chunked(smoke: bool, repeats: int) -> dict:
  """MLP 1x512 lanes, more than fit at once: the memory of every lane vmapped
  together (XLA's analysis of one lane's epoch x lanes) against the device's."""
  from jaxmem.runtime import budget  # pylint: disable=g-import-not-at-top
  from jaxmem import run as run_lib  # pylint: disable=g-import-not-at-top
  name, batch = "mlp_1x512", 128
  lanes, chunk, steps = (8, 2, 2) if smoke else (4096, 256, 8)
  probe = run_lib.Run.build(bench._config(name, 1, steps, batch, 1))  # pylint: disable=protected-access
  per_lane = probe.footprint()["working"]
  memory = budget.device_memory(jax.devices()[:1]) or 0
  run, compile_s, _, _ = bench.jaxmem_runner(name, lanes, steps, batch, chunk)
  rate = lanes * steps * batch / _median(run, repeats, lambda: None)
  return dict(lanes=lanes, chunk=chunk, steps=steps, per_lane=per_lane,
              all_at_once=per_lane * lanes, device_memory=memory, jaxmem=rate,
              compile_s=compile_s)


def markdown(rows, big, args, device) -> str:
  lines = [
      "# jaxmem on an accelerator", "",
      f"Measured {time.strftime('%Y-%m-%d')} on {device} (jax {jax.__version__}, "
      f"backend {jax.default_backend()}, torch {torch.__version__}), with "
      f"`bash scripts/accelerator_check.sh {' '.join(sys.argv[1:])}`. Synthetic "
      "data already on the device, training steps only (no evaluation), "
      "float32; lane-examples per second, median of "
      f"{args.repeats} timed runs after a warm-up.", "",
      "| workload | batch | lanes | chunk | jaxmem | torch loop (one seed) | "
      "torch.func.vmap | vs one torch seed | vs vmap | compile s |",
      "|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['workload']} | {r['batch']} | {r['lanes']} | {r['chunk']} | "
        f"{r['jaxmem']:,.0f} | {r['torch_loop']:,.0f} | {r['torch_vmap']:,.0f} | "
        f"{r['vs_one_torch_seed']:.1f}x | {r['vs_torch_vmap']:.2f}x | {r['compile_s']:.1f} |")
  gb = lambda n: f"{n / 1e9:,.2f} GB"
  lines += [
      "", "## More lanes than fit at once", "",
      f"{big['lanes']} lanes of mlp_1x512 in chunks of {big['chunk']} "
      f"(`config.lane_chunk`): {big['jaxmem']:,.0f} lane-examples/s "
      f"(compiled in {big['compile_s']:.1f} s). One lane's epoch program needs "
      f"{gb(big['per_lane'])}, so all {big['lanes']} vmapped together would need "
      f"{gb(big['all_at_once'])}, against the device's "
      f"{gb(big['device_memory']) if big['device_memory'] else 'unknown'}.", "",
      "## Targets (issue 16)", ""]
  by = {(r["workload"], r["lanes"]): r for r in rows}
  for (name, lanes), goal, key, what in (
      (("lenet1989", 1024), 200, "vs_one_torch_seed", "x one PyTorch seed"),
      (("mlp_1x512", 256), 50, "vs_one_torch_seed", "x a PyTorch loop over the seeds")):
    r = by.get((name, lanes))
    if r:
      # A loop over the seeds trains them in `lanes` times one seed's time:
      # its lane-examples/s are one seed's.
      value = r[key]
      verdict = "met" if value >= goal else "missed"
      lines.append(f"- {name} at {lanes} lanes: {value:.1f}{what} (target >= {goal}): "
                   f"**{verdict}**")
  return "\n".join(lines) + "\n"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--smoke", action="store_true",
                      help="tiny sizes, any backend (the test runs this on CPU)")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--page", default=str(PAGE))
  args = parser.parse_args()
  if jax.default_backend() == "cpu" and not args.smoke:
    sys.exit("accelerator_check: no accelerator here (JAX's backend is cpu); "
             "pass --smoke for the CPU smoke run")
  device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
  name = (torch.cuda.get_device_name(0) if device == "cuda"
          else f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores")
  repeats = 1 if args.smoke else args.repeats
  args.repeats = repeats
  start, rows = time.perf_counter(), []
  for workload, (_, counts, smoke_counts) in WORKLOADS.items():
    for lanes in (smoke_counts if args.smoke else counts):
      rows.append(row(workload, lanes, repeats, device, args.smoke))
      r = rows[-1]
      print(f"{workload:10s} {lanes:5d} lanes  jaxmem {r['jaxmem']:12,.0f}  torch loop "
            f"{r['torch_loop']:10,.0f}  vmap {r['torch_vmap']:10,.0f}  "
            f"({time.perf_counter() - start:.0f} s)", flush=True)
  big = chunked(args.smoke, repeats)
  page = pathlib.Path(args.page)
  page.parent.mkdir(parents=True, exist_ok=True)
  page.write_text(markdown(rows, big, args, name))
  print(f"written {page} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
  main()
