"""Where one lane's training step spends its time, on this machine.

Times, for one lane on one device (and, as `lenet1989_8_lanes`, 8 LeNet
lanes vmapped, each on its own examples, the form the CPU plan runs at batch
1), an epoch of `--steps` steps inside one `lax.scan`, with less and less of
the step removed:
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
STEP_DIVISORS = {"lenet1989": 1, "lenet1989_8_lanes": 4, "mlp_1x512": 10,
                 "alexnet_small": 100}
# workload -> (model, lanes vmapped together); others: (workload, 1).
VMAPPED = {"lenet1989_8_lanes": ("lenet1989", 8)}


def _variants(task, data):
  """name -> step(lane, state, index) for one lane, each doing more than the last."""
  def loop(lane, state, index):
    x = steps_lib.inputs(task, data, lane, index, "train", None)
    return state.replace(step=state.step + jnp.sum(x).astype(jnp.int32)
                         + jnp.sum(lane.labels[index])), ()

  def forward(lane, state, index):
    x = steps_lib.inputs(task, data, lane, index, "train", None)
    logits = steps_lib.forward(task, steps_lib.variables(state), x, train=False)
    return state.replace(step=state.step + jnp.argmax(logits[0])), ()

  def sgd(lane, state, index):
    x = steps_lib.inputs(task, data, lane, index, "train", None)

    def loss(params):
      logits = steps_lib.forward(task, {"params": params}, x, train=True)
      return steps_lib.loss_per_example(task.config.loss, logits,
                                        lane.labels[index]).mean()
    grads = jax.grad(loss)(state.params)
    return state.replace(params=optax.apply_updates(
        state.params, jax.tree.map(lambda g: -0.01 * g, grads))), ()

  def jaxmem(lane, state, index):
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
  model, lanes = VMAPPED.get(name, (name, 1))
  batch = bench_vs_torch.WORKLOADS[model][0]
  config = bench_vs_torch._config(model, lanes, num_steps, batch, lanes)  # pylint: disable=protected-access
  the_run = run_lib.Run.build(config)
  task, data, lane, state = (the_run.task, the_run.data, the_run.constants,
                             the_run.state.train)
  device = jax.devices()[0]  # One core, whatever the plan's split.
  data, lane, state = jax.device_put(
      (data, jax.tree.map(lambda x: x[:lanes], lane), jax.tree.map(lambda x: x[:lanes], state)),
      device)
  keys = jax.random.split(jax.random.PRNGKey(0), lanes)
  order = jax.vmap(lambda k: jax.random.permutation(k, num_steps * batch))(keys)
  order = order.reshape(lanes, num_steps, batch).transpose(1, 0, 2)  # [S, L, B]
  one = lambda x: x[0]
  flops = lanes * bench_vs_torch.matmul_flops(
      lambda s, i: steps_lib.train_step(task, data, jax.tree.map(one, lane), s, i),
      jax.tree.map(one, state), order[0, 0])
  rows = []
  if lanes == 1:  # One lane as jaxmem runs it: no lane axis.
    lane, state, order = jax.tree.map(one, lane), jax.tree.map(one, state), order[:, 0]
  for key, step in _variants(task, data).items():
    # Over the lanes: [L] lane, state and index.
    lifted = step if lanes == 1 else jax.vmap(step)
    body = lambda s, i, lifted=lifted: lifted(lane, s, i)
    epoch = jax.jit(lambda s, o, body=body: jax.lax.scan(body, s, o)[0])
    jax.block_until_ready(epoch(state, order))
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      jax.block_until_ready(epoch(state, order))
      times.append(time.perf_counter() - start)
    rows.append(dict(workload=name, variant=key,
                     us_per_step=1e6 * statistics.median(times) / num_steps,
                     kernels=_kernels(body, state, order[0])))
  for row in rows:
    row["examples_per_s"] = lanes * batch / row["us_per_step"] * 1e6
  rows.append(dict(workload=name, variant="arithmetic only",
                   us_per_step=1e6 * flops / peak, kernels=0,
                   examples_per_s=lanes * batch * peak / flops))
  return rows


def markdown(rows: list[dict], peak: float, command: str) -> str:
  lines = ["# Where a step's time goes", "",
           f"`{command}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, "
           f"jax {jax.__version__}, one lane on one device (`_8_lanes`: 8 lanes "
           "vmapped, a step being all 8 lanes' step), matmul rate "
           f"{peak / 1e9:.0f} GFLOP/s. Each variant adds to the one above it; "
           "`kernels` counts the compiled step's top-level XLA instructions, each "
           "launched separately by XLA's CPU runtime.", "",
           "| workload | variant | us/step | lane-examples/s (one core) | kernels |",
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
