"""Training a run: setup, the jitted epoch loop, checkpoints and results.

`run` trains every lane of a config at once: one compiled call per epoch, one
device-to-host transfer per epoch, results written to the workdir as they come.
How the lane axis executes (chunks, devices) is decided in jaxmem.execution.
"""

import functools
import platform
import sys
import time

from absl import logging
import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxmem import budget
from jaxmem import checkpoint
from jaxmem import corruption
from jaxmem import datasets
from jaxmem import errors
from jaxmem import execution
from jaxmem import experiment
from jaxmem import lanes as lanes_lib
from jaxmem import models
from jaxmem import ownership
from jaxmem import preemption
from jaxmem import preprocess
from jaxmem import records
from jaxmem import resume as resume_lib
from jaxmem import steps
from jaxmem import summary as summary_lib
from jaxmem.analysis import critical


def subset_size(config, num_train: int) -> int:
  """The number of training examples each lane trains on."""
  if config.subset_ratio:
    return max(1, round(config.subset_ratio * num_train))
  return num_train


def _check_against_data(config, ds: datasets.Dataset) -> None:
  n, (h, w, _) = len(ds.train.labels), ds.train.images.shape[1:]
  m = subset_size(config, n)
  if config.batch_size > m:
    what = f"the {n} training examples" if m == n else \
        f"each lane's subset of {m} of the {n} training examples"
    raise errors.UserError(
        f"config.batch_size {config.batch_size} is larger than {what} of "
        f"{config.dataset}; valid: 1..{m}")
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

  Checks the config, then the run's memory against the machine's, before
  anything proportional to the lanes is allocated.

  Returns:
    (task, data, lane, state, lanes, dataset); lane and state carry a leading
    lane axis.
  """
  experiment.validate(config)
  budget.check_data(config)
  ds = datasets.load(config.dataset, data_dir,
                     train_size=config.train_size or None,
                     test_size=config.test_size or None,
                     synthetic=config.synthetic.to_dict(),
                     train_indices=config.train_indices)
  _check_against_data(config, ds)
  try:
    model = models.create(config.model, ds.num_classes, **_model_kwargs(config))
  except TypeError as e:
    raise errors.UserError(
        f"model {config.model} does not take these options: {e}") from None
  task = steps.Task(config=config, model=model,
                    has_batch_norm=models.has_batch_norm(config.model),
                    num_classes=ds.num_classes,
                    steps_per_epoch=subset_size(config, len(ds.train.labels))
                    // config.batch_size,
                    input_kinds=lanes_lib.input_kinds(config))
  shape = preprocess.output_shape(ds.train.images.shape[1:],
                                  config.preprocess.crop)
  init = functools.partial(steps.init_state, task, image_shape=shape)
  _check_memory(config, task, init, ds)
  logging.info("%s", datasets.describe(ds))  # The one line about the data.
  lanes = lanes_lib.expand(config)
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
  n, m = len(ds.train.labels), subset_size(config, len(ds.train.labels))
  draw = lambda key: jnp.sort(jax.random.permutation(key, n)[:m]).astype(jnp.int32)
  subset = (jax.jit(jax.vmap(draw))(keys["subset"]) if m < n else
            jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (len(lanes), n)))
  lane = steps.Lane(hparams={k: jnp.asarray(v) for k, v in lanes.hparams.items()},
                    labels=labels, subset=subset,
                    input_code=jnp.asarray(lanes.input_code), keys=keys)
  state = jax.jit(jax.vmap(init))(lane)
  return task, data, lane, state, lanes, ds


def _check_memory(config, task, init, ds) -> None:
  """Raises UserError if the run's lanes cannot fit in memory (shapes only)."""
  n, m = len(ds.train.labels), len(ds.test.labels)
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  scalar = jax.ShapeDtypeStruct((), jnp.float32)
  one = steps.Lane(
      hparams={k: scalar for k in ("learning_rate", "weight_decay", "momentum")},
      labels=jax.ShapeDtypeStruct((n,), jnp.int32),
      subset=jax.ShapeDtypeStruct((subset_size(config, n),), jnp.int32),
      input_code=jax.ShapeDtypeStruct((), jnp.int32),
      keys={name: key for name in lanes_lib.STREAMS})
  per_lane = budget.tree_bytes(jax.eval_shape(init, one)) + budget.tree_bytes(one)
  num_lanes = lanes_lib.count(config)
  # The per-example history: int8 [lanes, epochs, N] twice and [.., M] once on
  # the host, and a copy of it in every checkpoint save.
  history = 2 * num_lanes * config.num_epochs * (2 * n + m)
  data = ds.train.images.nbytes + ds.test.images.nbytes
  budget.check_memory(budget.Memory(num_lanes, per_lane, 0, history, data),
                      execution.devices(), jax.default_backend())


def _finite(x: float):
  return x if np.isfinite(x) else None


def _metrics_rows(lanes, out: dict, counts: dict, epoch: int, elapsed: float,
                  diverged_epoch: np.ndarray) -> tuple[list[dict], dict]:
  """Turns one epoch's sums (host numpy, leading lane axis) into rates."""
  n, m, held = counts["train"], counts["test"], counts["holdout"]
  none = np.full(len(lanes), np.nan)
  rates = dict(
      train_loss=out["train"]["loss_sum"] / n,
      train_acc=out["train"]["correct"] / n,
      train_acc_clean=out["train"]["correct_clean"] / n,
      test_loss=out["test"]["loss_sum"] / m,
      test_acc=out["test"]["correct"] / m,
      holdout_loss=out["train"]["holdout_loss_sum"] / held if held else none,
      holdout_acc=out["train"]["holdout_correct"] / held if held else none,
      step_loss=out["steps"][:, 0] / counts["steps"],
      step_acc=out["steps"][:, 1] / counts["steps"],
      critical_ratio=out["critical"] / counts["critical"] if "critical" in out
      else none)
  rows = [dict(epoch=epoch, **lanes.describe(i),
               **{k: _finite(float(v[i])) for k, v in rates.items()},
               diverged=bool(diverged_epoch[i] >= 0),
               diverged_epoch=int(diverged_epoch[i]) if diverged_epoch[i] >= 0
               else None,
               elapsed_s=round(elapsed, 3)) for i in range(len(lanes))]
  return rows, rates


def _describe_run(config, lanes, ds, plan: execution.Plan) -> dict:
  return dict(
      config=config.to_dict(),
      lanes=[dict(lanes.describe(i), resolved=lanes_lib.resolved(lanes, i))
             for i in range(len(lanes))],
      randomness=lanes_lib.randomness(config),
      dataset=dict(name=ds.name, source=ds.source, num_classes=ds.num_classes,
                   train_shape=ds.train.images.shape,
                   test_shape=ds.test.images.shape),
      execution=plan.describe(),
      versions=dict(python=platform.python_version(), jax=jax.__version__,
                    flax=flax.__version__, optax=optax.__version__,
                    numpy=np.__version__))


def load_finished(workdir: str, data_dir=None):
  """Rebuilds a finished run's lanes with their final state, read-only.

  For analyses that need the trained networks (e.g. prediction depth).

  Returns:
    (task, data, lane, state, lanes, dataset), as `setup` returns them, with
    the state of the run's final checkpoint.
  """
  wd = records.Workdir(workdir).require_done()
  config = ml_collections.ConfigDict(wd.read_json("config.json")["config"])
  task, data, lane, state, lanes, ds = setup(config, data_dir)
  ckpts = checkpoint.Checkpoints(wd.checkpoints, keep=config.checkpoint_keep)
  try:
    progress = resume_lib.Progress(len(lanes), len(ds.train.labels),
                                   len(ds.test.labels), config.num_epochs)
    restored = resume_lib.restore(wd, ckpts, progress, lane, state)
  finally:
    ckpts.close()
  if restored is None or progress.epoch != config.num_epochs:
    raise errors.UserError(f"{wd.checkpoints} holds no final checkpoint")
  return task, data, lane, restored[0], lanes, ds


def run(config, workdir: str, data_dir=None, overwrite: bool = False) -> dict:
  """Trains every lane of `config` into `workdir`, resuming an unfinished run.

  Bad input raises `UserError` before anything compiles or is written; so do
  a workdir that holds someone else's files, one that another process writes,
  and a run too large for the machine. A rerun on the same workdir continues
  from the newest good checkpoint and ends with the same results as a run
  that was never interrupted. SIGTERM or SIGINT stop it at the end of the
  epoch with a checkpoint (`preemption.Preempted`); an OS error on the workdir
  (a full disk, a read-only folder) raises UserError naming the path and the
  cause, with status.json "failed" where it can still be written.

  Returns:
    The content of summary.json.
  """
  wd = records.Workdir(workdir)
  saved = [0]  # The newest epoch on disk, for a forced stop.

  def forced(signum):
    wd.set_status_anyhow("preempted", epoch=saved[0], forced=True,
                         signal=preemption.signal.Signals(signum).name)
    print(f"jaxmem: stopped at once by a second "
          f"{preemption.signal.Signals(signum).name}; rerun the same command to "
          f"resume from the checkpoint of epoch {saved[0]}", file=sys.stderr,
          flush=True)

  with preemption.Signals(on_second=forced) as signals:
    experiment.validate(config)
    wd.inspect(config.to_dict(), overwrite)  # Reads only: fail before any work.
    task, data, lane, state, lanes, ds = setup(config, data_dir)
    plan = execution.plan(config, len(lanes), _bytes_per_lane(task, data, lane, state))
    try:
      wd.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
      raise errors.filesystem(e, "cannot create") from None
    with ownership.Lock(wd.path):
      try:
        return _run_locked(config, wd, task, data, lane, state, lanes, ds, plan,
                           overwrite, signals, saved)
      except OSError as e:
        raise errors.UserError(
            f"{errors.filesystem(e, 'cannot write')}; once that is fixed, rerun "
            "the same command to resume") from None


def _run_locked(config, wd, task, data, lane, state, lanes, ds, plan, overwrite,
                signals, saved) -> dict:
  resume = wd.begin(config.to_dict(), overwrite)  # The folder is ours from here.
  ckpts = checkpoint.Checkpoints(wd.checkpoints, keep=config.checkpoint_keep)
  progress = resume_lib.Progress(len(lanes), len(ds.train.labels),
                                 len(ds.test.labels), config.num_epochs)
  try:
    if resume:
      state = resume_lib.resume(wd, ckpts, progress, lane, state)
    saved[0] = progress.epoch
    wd.write_json("config.json", _describe_run(config, lanes, ds, plan))
    wd.set_status("running", epoch=progress.epoch, num_epochs=config.num_epochs)
    return _train(task, data, lane, state, lanes, ds, wd, plan, ckpts, progress,
                  signals, saved)
  except preemption.Preempted:
    raise
  except (errors.UserError, OSError) as e:
    if (wd.path / "status.json").exists():
      what = errors.filesystem(e, "cannot write") if isinstance(e, OSError) else e
      wd.set_status_anyhow("failed", epoch=progress.epoch, error=str(what))
    raise
  except BaseException as e:
    wd.set_status_anyhow("failed", epoch=progress.epoch,
                         error=f"{type(e).__name__}: {e}")
    raise
  finally:
    ckpts.close()


def _bytes_per_lane(task, data, lane, state) -> int | None:
  """One lane's memory for the automatic chunk on accelerators (None on CPU,
  where lanes run one at a time, or when config.lane_chunk is set)."""
  if task.config.lane_chunk or jax.default_backend() == "cpu":
    return None
  one = jax.tree.map(lambda x: x[0], (lane, state))
  return execution.lane_bytes(functools.partial(steps.train_epoch, task), data,
                              *one, jnp.int32(0))


def _train(task, data, lane, state, lanes, ds, wd, plan, ckpts, progress,
           signals, saved) -> dict:
  config, num_lanes = task.config, len(lanes)
  epoch_fn = plan.lift(functools.partial(steps.train_epoch, task))
  start = time.perf_counter()
  compiled = jax.jit(epoch_fn, donate_argnums=(2,)).lower(
      data, lane, state, jnp.int32(0)).compile()
  measure_critical = _critical_program(task, data, lane, state, plan)
  compile_s = time.perf_counter() - start
  logging.info("%d lanes (%s), compiled in %.1f s; lanes vmapped %d at a time "
               "on each of %d device(s)", num_lanes,
               ", ".join(lanes.axes) or "seeds only", compile_s, plan.chunk,
               plan.num_devices)
  subset = subset_size(config, len(ds.train.labels))
  counts = dict(train=subset, holdout=len(ds.train.labels) - subset,
                test=len(ds.test.labels),
                steps=task.steps_per_epoch * config.batch_size,
                critical=len(critical.sample(len(ds.train.labels),
                                             config.critical.examples)))
  every, every_critical = config.checkpoint_every_epochs, config.critical.every_epochs
  due = lambda e: e == config.num_epochs or bool(every and e % every == 0)
  start, first, checkpoint_s = time.perf_counter(), progress.epoch, 0.0
  before = progress.elapsed  # Training seconds of the processes before this one.
  row_bytes = 600 * num_lanes  # Metrics per epoch, until measured.
  for epoch in range(progress.epoch, config.num_epochs):
    if signals.requested:
      break
    ckpts.check()  # A background save that failed stops the run here.
    if epoch == first or due(epoch):
      _check_disk(wd, progress, state, lane, epoch, due, row_bytes,
                  ckpts.saving())
    state, out = compiled(data, lane, state, jnp.int32(epoch))
    if every_critical and ((epoch + 1) % every_critical == 0
                           or epoch + 1 == config.num_epochs):
      out["critical"] = measure_critical(data, lane, state, jnp.int32(epoch + 1))
    out = jax.device_get(out)
    elapsed = before + time.perf_counter() - start
    newly = (progress.diverged_epoch < 0) & (out["diverged"] >= 0)
    progress.diverged_epoch[newly] = epoch + 1
    rows, rates = _metrics_rows(lanes, out, counts, epoch + 1, elapsed,
                                progress.diverged_epoch)
    row_bytes = progress.add_rows(rows, wd.append_metrics(rows))
    progress.train_pred[:, epoch] = out["train"]["pred"]
    progress.test_pred[:, epoch] = out["test"]["pred"]
    progress.presented[:, epoch] = out["presented"]
    progress.epoch = epoch + 1
    if due(progress.epoch):
      progress.elapsed = elapsed
      saving = time.perf_counter()
      ckpts.save(progress.epoch, progress.arrays(state, lane), progress.meta())
      saved[0] = progress.epoch
      checkpoint_s += time.perf_counter() - saving
    wd.set_status("running", epoch=progress.epoch, num_epochs=config.num_epochs,
                  diverged_lanes=np.flatnonzero(progress.diverged_epoch >= 0))
    _log_progress(progress.epoch, config.num_epochs, num_lanes,
                  time.perf_counter() - start, progress.epoch - first,
                  counts["steps"], rates)
  if progress.epoch < config.num_epochs:  # Stopped by a signal.
    if saved[0] != progress.epoch:
      progress.elapsed = before + time.perf_counter() - start
      ckpts.save(progress.epoch, progress.arrays(state, lane), progress.meta())
    _stop(wd, ckpts, progress.epoch, signals.signum, config.num_epochs)
  saving = time.perf_counter()
  ckpts.wait()
  checkpoint_s += time.perf_counter() - saving
  train_s = time.perf_counter() - start
  last = progress.last_rows  # The final epoch, also when resumed at it.
  final = {m: np.asarray([np.nan if r[m] is None else r[m] for r in last])
           for m in summary_lib.METRICS}
  result = summary_lib.summarize(lanes, final, progress.diverged_epoch, dict(
      compile_s=round(compile_s, 2), train_s=round(train_s, 2),
      checkpoint_s=round(checkpoint_s, 2),  # Training blocked on saves.
      lane_examples_per_s=round(num_lanes * counts["steps"]
                                * (config.num_epochs - first) / max(train_s, 1e-9), 1)))
  _write_examples(wd, lane, lanes, ds, progress)
  wd.write_json("summary.json", result)
  diverged = np.flatnonzero(progress.diverged_epoch >= 0)
  wd.set_status("done", epoch=config.num_epochs, num_epochs=config.num_epochs,
                compile_s=result["compile_s"], train_s=result["train_s"],
                diverged_lanes=diverged)
  if len(diverged):
    logging.warning("%d of %d lanes diverged (loss not finite): lanes %s; they "
                    "are left out of means and standard deviations",
                    len(diverged), num_lanes, diverged.tolist())
  return result


def _check_disk(wd, progress, state, lane, epoch: int, due, row_bytes: int,
                saving: bool) -> None:
  """Raises UserError, before training them, if the epochs up to the next
  checkpoint could not be saved for want of disk space."""
  num_epochs = progress.num_epochs
  following = next(e for e in range(epoch + 1, num_epochs + 1) if due(e))
  size = budget.tree_bytes(progress.arrays(state, lane, epoch=following))
  # A save still in flight may not have taken its space yet.
  need = size * (2 if saving else 1) + row_bytes * (following - epoch)
  if following == num_epochs:  # examples.npz too (compressed: bounded by this).
    need += progress.train_pred.nbytes + progress.test_pred.nbytes
  budget.check_disk(wd.path, need, f"the checkpoint of epoch {following}")


def _stop(wd, ckpts, epoch: int, signum: int, num_epochs: int) -> None:
  """Waits for the checkpoint of `epoch`, marks the run preempted and raises."""
  ckpts.wait()
  wd.set_status("preempted", epoch=epoch, num_epochs=num_epochs,
                signal=preemption.signal.Signals(signum).name)
  raise preemption.Preempted(signum, epoch, num_epochs)


def _critical_program(task, data, lane, state, plan: execution.Plan):
  """Compiles the critical-sample count of every lane, if the config asks."""
  if not task.config.critical.every_epochs:
    return None
  index = critical.sample(data.train_labels.shape[0], task.config.critical.examples)
  fn = plan.lift(functools.partial(critical.epoch_count, task,
                                   index=jnp.asarray(index)))
  return jax.jit(fn).lower(data, lane, state, jnp.int32(0)).compile()


def _log_progress(epoch, num_epochs, num_lanes, seconds, epochs_here,
                  per_epoch, rates) -> None:
  eta = seconds / epochs_here * (num_epochs - epoch)
  csr = rates["critical_ratio"]
  logging.info(
      "epoch %d/%d  %d lanes  %.0f lane-examples/s  train_acc %.3f [%.3f, %.3f]"
      "  test_acc %.3f%s  ETA %.0f s", epoch, num_epochs, num_lanes,
      num_lanes * per_epoch * epochs_here / seconds,
      np.nanmean(rates["train_acc"]), np.nanmin(rates["train_acc"]),
      np.nanmax(rates["train_acc"]), np.nanmean(rates["test_acc"]),
      f"  critical_ratio {np.nanmean(csr):.3f}" if np.any(np.isfinite(csr)) else "",
      eta)


def _write_examples(wd, lane, lanes, ds, progress) -> None:
  labels = np.asarray(lane.labels)
  wd.write_examples(
      train_correct=progress.train_pred == labels[:, None, :],
      test_correct=progress.test_pred == ds.test.labels[None, None, :],
      train_pred=progress.train_pred, test_pred=progress.test_pred,
      presented_correct=progress.presented,
      train_index=ds.train.index, test_index=ds.test.index,
      clean_labels=ds.train.labels, test_labels=ds.test.labels,
      labels=labels, corrupted=labels != ds.train.labels[None, :],
      in_subset=_membership(np.asarray(lane.subset), len(ds.train.labels)),
      lane_seed=lanes.seed_index, lane_point=lanes.point,
      diverged_epoch=progress.diverged_epoch)


def _membership(subset: np.ndarray, n: int) -> np.ndarray:
  """bool [L, N] from each lane's training indices int [L, M]."""
  member = np.zeros((subset.shape[0], n), bool)
  np.put_along_axis(member, subset, True, axis=1)
  return member
