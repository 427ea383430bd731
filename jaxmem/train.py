"""The one place that vmaps over lanes and jits: setup, the epoch loop, results.

`run` trains every lane of a config at once: one compiled call per epoch, one
device-to-host transfer per epoch, results written to the workdir as they come.
How the lane axis executes is decided in `over_lanes` alone.
"""

import functools
import platform
import time

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmem import corruption
from jaxmem import datasets
from jaxmem import errors
from jaxmem import experiment
from jaxmem import lanes as lanes_lib
from jaxmem import models
from jaxmem import preprocess
from jaxmem import records
from jaxmem import steps
from jaxmem import summary as summary_lib


def lane_chunk(config, num_lanes: int) -> int:
  """Lanes vmapped together; chunks run one after another in one program.

  Measured on a 2-core CPU, vmapping 8+ MLP lanes is slower than running them
  one after another (batched matmuls copy transposed gradients; the lanes'
  weights overflow the cache), while on an accelerator one lane leaves it idle.
  So `auto` (0) is 1 on CPU and every lane elsewhere.
  """
  if config.lane_chunk:
    return min(config.lane_chunk, num_lanes)
  return 1 if jax.default_backend() == "cpu" else num_lanes


def over_lanes(fn, num_lanes: int, chunk: int):
  """Lifts fn(data, lane, state, epoch) of ONE lane to a leading lane axis [L].

  Chunks of `chunk` lanes are vmapped; `lax.map` runs the chunks in sequence
  inside the same program. A lane's result does not depend on the chunking
  (up to float32 summation order inside a vmapped chunk).
  """
  per_chunk = fn if chunk == 1 else jax.vmap(fn, in_axes=(None, 0, 0, None))
  if chunk >= num_lanes:
    return jax.vmap(fn, in_axes=(None, 0, 0, None))
  pad = -num_lanes % chunk

  def run(data, lane, state, epoch):
    def split(x):
      x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x
      return x.reshape((-1, chunk) + x.shape[1:]) if chunk > 1 else x
    chunks = jax.tree.map(split, (lane, state))
    out = jax.lax.map(lambda ls: per_chunk(data, ls[0], ls[1], epoch), chunks)
    merge = lambda x: x.reshape((-1,) + x.shape[2:])[:num_lanes] if chunk > 1 \
        else x[:num_lanes]
    return jax.tree.map(merge, out)
  return run


def _check_against_data(config, ds: datasets.Dataset) -> None:
  n, (h, w, _) = len(ds.train.labels), ds.train.images.shape[1:]
  if config.batch_size > n:
    raise errors.UserError(
        f"config.batch_size {config.batch_size} is larger than the {n} "
        f"training examples of {config.dataset}; valid: 1..{n}")
  if config.preprocess.crop > min(h, w):
    raise errors.UserError(
        f"config.preprocess.crop {config.preprocess.crop} is larger than the "
        f"{h}x{w} images of {config.dataset}; valid: 0..{min(h, w)}")


def _model_kwargs(config) -> dict:
  kwargs = {}
  if config.model == "mlp":
    kwargs["widths"] = tuple(config.mlp_widths)
  if config.dropout_rate:
    kwargs["dropout_rate"] = config.dropout_rate
  return kwargs


def setup(config, data_dir=None):
  """Loads the data and builds every lane's constants and initial state.

  Returns:
    (task, data, lane, state, lanes, dataset); lane and state carry a leading
    lane axis.
  """
  experiment.validate(config)
  ds = datasets.load(config.dataset, data_dir,
                     train_size=config.train_size or None,
                     test_size=config.test_size or None,
                     synthetic=config.synthetic.to_dict())
  _check_against_data(config, ds)
  lanes = lanes_lib.expand(config)
  try:
    model = models.create(config.model, ds.num_classes, **_model_kwargs(config))
  except TypeError as e:
    raise errors.UserError(
        f"model {config.model} does not take these options: {e}") from None
  task = steps.Task(config=config, model=model,
                    has_batch_norm=models.has_batch_norm(config.model),
                    num_classes=ds.num_classes,
                    steps_per_epoch=len(ds.train.labels) // config.batch_size,
                    input_kinds=lanes.input_kinds)
  axes = (0, 1, 2)
  data = steps.Data(
      train_images=jnp.asarray(ds.train.images),
      train_labels=jnp.asarray(ds.train.labels, jnp.int32),
      test_images=jnp.asarray(ds.test.images),
      test_labels=jnp.asarray(ds.test.labels, jnp.int32),
      mean=jnp.asarray(ds.train.images.mean(axis=axes), jnp.float32),
      std=jnp.asarray(ds.train.images.std(axis=axes), jnp.float32))
  seed, index = config.seed, lanes.seed_index
  keys = {name: lanes_lib.keys(seed, index, name) for name in lanes_lib.STREAMS}
  keys["corruption"] = lanes_lib.keys(
      seed, index, "corruption", shared=config.corruption_draw == "shared")
  corrupt = lambda key, level: corruption.corrupt_labels(
      key, data.train_labels, ds.num_classes, level,
      config.label_corruption_kind)
  labels, _ = jax.jit(jax.vmap(corrupt))(keys["corruption"],
                                          jnp.asarray(lanes.label_corruption))
  lane = steps.Lane(hparams={k: jnp.asarray(v) for k, v in lanes.hparams.items()},
                    labels=labels, input_code=jnp.asarray(lanes.input_code),
                    keys=keys)
  shape = preprocess.output_shape(ds.train.images.shape[1:],
                                  config.preprocess.crop)
  state = jax.jit(jax.vmap(functools.partial(steps.init_state, task,
                                             image_shape=shape)))(lane)
  return task, data, lane, state, lanes, ds


def _metrics_rows(lanes, out: dict, counts: dict, epoch: int,
                  elapsed: float) -> tuple[list[dict], dict]:
  """Turns one epoch's sums (host numpy, leading lane axis) into rates."""
  n, m = counts["train"], counts["test"]
  rates = dict(
      train_loss=out["train"]["loss_sum"] / n,
      train_acc=out["train"]["correct"] / n,
      train_acc_clean=out["train"]["correct_clean"] / n,
      test_loss=out["test"]["loss_sum"] / m,
      test_acc=out["test"]["correct"] / m,
      step_loss=out["steps"][:, 0] / counts["steps"],
      step_acc=out["steps"][:, 1] / counts["steps"])
  rows = [dict(epoch=epoch, **lanes.describe(i),
               **{k: float(v[i]) for k, v in rates.items()},
               elapsed_s=round(elapsed, 3)) for i in range(len(lanes))]
  return rows, rates


def _describe_run(config, lanes, ds, chunk: int) -> dict:
  return dict(
      config=config.to_dict(),
      lanes=[lanes.describe(i) for i in range(len(lanes))],
      randomness=lanes_lib.randomness(config),
      dataset=dict(name=ds.name, source=ds.source, num_classes=ds.num_classes,
                   train_shape=ds.train.images.shape,
                   test_shape=ds.test.images.shape),
      execution=dict(backend=jax.default_backend(), devices=[str(d) for d in jax.devices()],
                     lane_chunk=chunk),
      versions=dict(python=platform.python_version(), jax=jax.__version__,
                    flax=flax.__version__, optax=optax.__version__,
                    numpy=np.__version__))


def run(config, workdir: str, data_dir=None, overwrite: bool = False) -> dict:
  """Trains every lane of `config`, writing results into `workdir`.

  Bad input raises `UserError` before anything compiles or is written.

  Returns:
    The content of summary.json.
  """
  task, data, lane, state, lanes, ds = setup(config, data_dir)
  wd = records.Workdir(workdir)
  wd.prepare(overwrite)
  chunk = lane_chunk(config, len(lanes))
  wd.write_json("config.json", _describe_run(config, lanes, ds, chunk))
  wd.set_status("running", epoch=0, num_epochs=config.num_epochs)
  try:
    return _train(task, data, lane, state, lanes, ds, wd, chunk)
  except BaseException as e:
    wd.set_status("failed", error=f"{type(e).__name__}: {e}")
    raise


def _train(task, data, lane, state, lanes, ds, wd, chunk) -> dict:
  config, num_lanes = task.config, len(lanes)
  epoch_fn = over_lanes(functools.partial(steps.train_epoch, task), num_lanes, chunk)
  start = time.perf_counter()
  compiled = jax.jit(epoch_fn, donate_argnums=(2,)).lower(
      data, lane, state, jnp.int32(0)).compile()
  compile_s = time.perf_counter() - start
  logging.info("%d lanes (%s), compiled in %.1f s; lanes vmapped %d at a time",
               num_lanes, ", ".join(lanes.axes) or "seeds only", compile_s, chunk)
  counts = dict(train=len(ds.train.labels), test=len(ds.test.labels),
                steps=task.steps_per_epoch * config.batch_size)
  history = {"train": [], "test": []}
  start = time.perf_counter()
  for epoch in range(config.num_epochs):
    state, out = compiled(data, lane, state, jnp.int32(epoch))
    out = jax.device_get(out)
    elapsed = time.perf_counter() - start
    rows, rates = _metrics_rows(lanes, out, counts, epoch + 1, elapsed)
    wd.append_metrics(rows)
    history["train"].append(out["train"]["pred"])
    history["test"].append(out["test"]["pred"])
    wd.set_status("running", epoch=epoch + 1, num_epochs=config.num_epochs)
    _progress(epoch + 1, config.num_epochs, num_lanes, elapsed,
              counts["steps"], rates)
  train_s = time.perf_counter() - start
  final = {m: rates[m] for m in summary_lib.METRICS}
  result = summary_lib.summarize(lanes, final, dict(
      compile_s=round(compile_s, 2), train_s=round(train_s, 2),
      lane_examples_per_s=round(num_lanes * counts["steps"] * config.num_epochs
                                / train_s, 1)))
  _write_examples(wd, lane, lanes, ds, history)
  wd.write_json("summary.json", result)
  wd.set_status("done", epoch=config.num_epochs, num_epochs=config.num_epochs,
                compile_s=result["compile_s"], train_s=result["train_s"])
  return result


def _progress(epoch, num_epochs, num_lanes, elapsed, per_epoch, rates) -> None:
  eta = elapsed / epoch * (num_epochs - epoch)
  logging.info(
      "epoch %d/%d  %d lanes  %.0f lane-examples/s  train_acc %.3f [%.3f, %.3f]"
      "  test_acc %.3f  elapsed %.0f s  ETA %.0f s", epoch, num_epochs,
      num_lanes, num_lanes * per_epoch * epoch / elapsed,
      rates["train_acc"].mean(), rates["train_acc"].min(),
      rates["train_acc"].max(), rates["test_acc"].mean(), elapsed, eta)


def _write_examples(wd, lane, lanes, ds, history) -> None:
  labels = np.asarray(lane.labels)
  train_pred = np.stack(history["train"], axis=1)  # [L, E, N]
  test_pred = np.stack(history["test"], axis=1)  # [L, E, M]
  wd.write_examples(
      train_correct=train_pred == labels[:, None, :],
      test_correct=test_pred == ds.test.labels[None, None, :],
      train_pred=train_pred, test_pred=test_pred,
      train_index=ds.train.index, test_index=ds.test.index,
      clean_labels=ds.train.labels, test_labels=ds.test.labels,
      labels=labels, corrupted=labels != ds.train.labels[None, :],
      lane_seed=lanes.seed_index, lane_point=lanes.point)
