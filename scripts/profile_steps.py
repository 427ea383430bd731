"""Where one lane's training step spends its time, on this machine.

Times, for one lane on one device, an epoch of `--steps` steps inside one
`lax.scan`, with less and less of the step removed:
  loop      the scan alone: gather the batch's examples and labels, sum them;
  forward   + the model's forward pass (evaluation mode);
  sgd       + the gradient and a plain SGD update: the least a step can do;
  jaxmem    jaxmem's own step (`steps.train_step`): augmentation and dropout
            keys, the optimizer (optax), the divergence check and freeze,
            per-example correctness.
and reports microseconds per step, the XLA kernels (top-level instructions of
the compiled step, each launched separately by XLA's CPU runtime) per step,
and the matmul FLOPs against the measured matmul rate: what the arithmetic
alone would allow. Writes Markdown (--out) for docs/benchmarks.md.

  python scripts/profile_steps.py --out=docs/profile_steps.md
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax

sys.path.insert(0, os.path.dirname(__file__))
import bench_vs_torch  # pylint: disable=wrong-import-position

from jaxmem import run as run_lib  # pylint: disable=wrong-import-position
from jaxmem import steps as steps_lib  # pylint: disable=wrong-import-position


# workload -> divisor of --steps, so that each workload's epoch takes seconds.
STEP_DIVISORS = {"lenet1989": 1, "mlp_1x512": 10, "alexnet_small": 100}


def _variants(task, data, lane):
  """name -> step(state, index) for one lane, each doing more than the last."""
  def loop(state, index):
    x = steps_lib.inputs(task, data, lane, index, "train", None)
    return state.replace(step=state.step + jnp.sum(x).astype(jnp.int32)
                         + jnp.sum(lane.labels[index])), ()

  def forward(state, index):
    x = steps_lib.inputs(task, data, lane, index, "train", None)
    logits = steps_lib.forward(task, steps_lib.variables(state), x, train=False)
    return state.replace(step=state.step + jnp.argmax(logits[0])), ()

  def sgd(state, index):
    x = steps_lib.inputs(task, data, lane, index, "train", None)

    def loss(params):
      logits = steps_lib.forward(task, {"params": params}, x, train=True)
      return steps_lib.loss_per_example(task.config.loss, logits,
                                        lane.labels[index]).mean()
    grads = jax.grad(loss)(state.params)
    return state.replace(params=optax.apply_updates(
        state.params, jax.tree.map(lambda g: -0.01 * g, grads))), ()

  def jaxmem(state, index):
    return steps_lib.train_step(task, data, lane, state, index)[0], ()
  return dict(loop=loop, forward=forward, sgd=sgd, jaxmem=jaxmem)


def _kernels(step, state, index) -> int:
  """Top-level instructions of one compiled step: the kernels XLA launches."""
  text = jax.jit(step).lower(state, index).compile().as_text()
  entry = text[text.index("ENTRY"):]
  body = entry[:entry.index("\n}")]
  return sum(1 for line in body.splitlines()[1:]
             if " = " in line and " parameter(" not in line
             and "get-tuple-element" not in line and " tuple(" not in line
             and " constant(" not in line and " bitcast(" not in line)


def profile(name: str, num_steps: int, repeats: int, peak: float) -> list[dict]:
  batch = bench_vs_torch.WORKLOADS[name][0]
  config = bench_vs_torch._config(name, 1, num_steps, batch, 1)  # pylint: disable=protected-access
  the_run = run_lib.Run.build(config)
  task, data, lane, state = (the_run.task, the_run.data, the_run.constants,
                             the_run.state.train)
  lane, state = jax.tree.map(lambda x: x[0], (lane, state))
  order = jax.random.permutation(jax.random.PRNGKey(0), num_steps * batch).reshape(
      num_steps, batch)
  flops = bench_vs_torch.matmul_flops(
      lambda s, i: steps_lib.train_step(task, data, lane, s, i), state, order[0])
  rows = []
  for key, step in _variants(task, data, lane).items():
    epoch = jax.jit(lambda s, o, step=step: jax.lax.scan(step, s, o)[0])
    jax.block_until_ready(epoch(state, order))
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      jax.block_until_ready(epoch(state, order))
      times.append(time.perf_counter() - start)
    rows.append(dict(workload=name, variant=key,
                     us_per_step=1e6 * statistics.median(times) / num_steps,
                     kernels=_kernels(step, state, order[0])))
  for row in rows:
    row["examples_per_s"] = batch / row["us_per_step"] * 1e6
  rows.append(dict(workload=name, variant="arithmetic only",
                   us_per_step=1e6 * flops / peak, kernels=0,
                   examples_per_s=batch * peak / flops))
  return rows


def markdown(rows: list[dict], peak: float, command: str) -> str:
  lines = ["# Where a step's time goes", "",
           f"`{command}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, "
           f"jax {jax.__version__}, one lane on one device, matmul rate "
           f"{peak / 1e9:.0f} GFLOP/s. Each variant adds to the one above it; "
           "`kernels` counts the compiled step's top-level XLA instructions, each "
           "launched separately by XLA's CPU runtime.", "",
           "| workload | variant | us/step | examples/s (one core's lane) | kernels |",
           "|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['workload']} | {r['variant']} | {r['us_per_step']:.1f} | "
                 f"{r['examples_per_s']:,.0f} | {r['kernels'] or ''} |")
  return "\n".join(lines) + "\n"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workloads", default=",".join(STEP_DIVISORS))
  parser.add_argument("--steps", type=int, default=2000)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", default="docs/profile_steps.md")
  args = parser.parse_args()
  peak = bench_vs_torch.matmul_peak()
  rows = []
  for name in args.workloads.split(","):
    steps = max(2, args.steps // STEP_DIVISORS[name])
    rows += profile(name, steps, args.repeats, peak)
  text = markdown(rows, peak, "python scripts/profile_steps.py " + " ".join(sys.argv[1:]))
  print(text)
  pathlib.Path(args.out).write_text(text)


if __name__ == "__main__":
  main()
