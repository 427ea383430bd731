"""Training a run: the epoch loop, its measures, checkpoints and files.

`train` trains every lane of a config at once: one compiled call per epoch for
training (and the measures that see presentations), one per epoch for the
measures due after it, one device-to-host transfer of small per-lane sums
(plus the optional history), results written to the workdir as they come.
What the lanes are is jaxmem.run's; how the lane axis executes,
jaxmem.execution's; what is recorded, jaxmem.measures'; the epoch itself,
jaxmem.epoch's. `Trainer` holds what the loop keeps between epochs.
"""

import contextlib
import os
import sys
import time

from absl import logging
import jax
import numpy as np

from jaxmem import config as config_lib
from jaxmem import config_files
from jaxmem import epoch as epoch_lib
from jaxmem import errors
from jaxmem import measures as measures_lib
from jaxmem import run as run_lib
from jaxmem.runtime import budget
from jaxmem.runtime import distributed
from jaxmem.runtime import host_memory
from jaxmem.runtime import preemption
from jaxmem.workdir import admission
from jaxmem.workdir import checkpoint
from jaxmem.workdir import examples
from jaxmem.workdir import files
from jaxmem.workdir import formats
from jaxmem.workdir import history as history_lib
from jaxmem.workdir import ownership
from jaxmem.workdir import resume as resume_lib
from jaxmem.workdir import summary as summary_lib


def train(config, workdir: str, data_dir=None, overwrite: bool = False,
          config_file: str | dict | None = None,
          heartbeat_timeout_s: float = distributed.HEARTBEAT_TIMEOUT_S) -> dict:
  """Trains every lane of `config` into `workdir`, resuming an unfinished run.

  Bad input raises `UserError` before anything compiles or is written; so do
  a workdir that holds someone else's files, one that another process writes,
  and a run too large for the machine. A rerun on the same workdir continues
  from the newest good checkpoint and ends with the same results as a run
  that was never interrupted. SIGTERM or SIGINT stop it at the end of the
  epoch with a checkpoint (`preemption.Preempted`); an OS error on the workdir
  (a full disk, a read-only folder) raises UserError naming the path and the
  cause, with status.json "failed" where it can still be written.

  `config_file` (a sweep file's path, or what `config_files.load_file` says of it)
  is recorded in config.json: its path, SHA-256 and text.

  Over several processes (jaxmem.runtime.distributed), every process calls
  this: process 0 holds the lock and writes the files, every process trains
  its lanes and takes part in the checkpoints; a lost process ends the others
  within `heartbeat_timeout_s` with status "failed".

  Returns:
    The content of summary.json.
  """
  primary = distributed.is_primary()
  wd = files.Workdir(workdir) if primary else files.Follower(workdir)
  trainer = None
  on_second = lambda signum: trainer.forced(signum) if trainer else None
  with preemption.Signals(on_second=on_second) as signals:
    config_lib.validate(config)
    admission.inspect(wd, config.to_dict(), overwrite)  # Reads only: fail early.
    written = formats.of(wd) if wd.path.is_dir() else formats.FORMATS[formats.FORMAT]
    run = run_lib.Run.build(config, data_dir)
    if primary:
      try:
        wd.path.mkdir(parents=True, exist_ok=True)
      except OSError as e:
        raise errors.filesystem(e, "cannot create") from None
    if isinstance(config_file, (str, os.PathLike)):
      config_file = config_files.describe_file(str(config_file))
    trainer = Trainer(run, wd, signals, config_file)
    with (ownership.Lock(wd.path) if primary else contextlib.nullcontext()), \
        distributed.Watchdog(heartbeat_timeout_s, trainer.lost):
      try:
        return trainer.start(overwrite, written)
      except (errors.UserError, preemption.Preempted):
        raise
      except OSError as e:
        raise errors.UserError(
            f"{errors.filesystem(e, 'cannot write')}; once that is fixed, rerun "
            "the same command to resume") from None
      except Exception as e:  # pylint: disable=broad-except
        if not distributed.spans_processes():
          raise
        trainer.failed_over_processes(e)


class Trainer:
  """One run's epoch loop and what it keeps between epochs."""

  def __init__(self, run: run_lib.Run, wd: files.Workdir, signals: preemption.Signals,
               config_file: dict | None = None):
    self.run, self.wd, self.signals = run, wd, signals
    self.config_file = config_file
    self.config = run.config
    self.progress = resume_lib.Progress(run.num_lanes)
    self.saved = 0  # The newest epoch with a checkpoint on disk.
    self.ckpts: checkpoint.Checkpoints | None = None

  # What ends a run at once: a second signal, a lost process.

  def _exit(self, status: str, message: str, code: int, **fields) -> None:
    self.wd.set_status_anyhow(status, epoch=self.saved, **fields)
    print(message, file=sys.stderr, flush=True)
    if code:
      os._exit(code)  # pylint: disable=protected-access

  def forced(self, signum: int) -> None:
    """A second SIGTERM or SIGINT: record it (the handler then exits)."""
    name = preemption.signal.Signals(signum).name
    self._exit("preempted", f"jaxmem: stopped at once by a second {name}; rerun "
               f"the same command to resume from the checkpoint of epoch {self.saved}",
               0, forced=True, signal=name)

  def lost(self, process: int, seconds: float) -> None:
    """Another process stopped beating: fail the run, in one line."""
    message = (f"lost process {process} of {jax.process_count()} (no heartbeat "
               f"for {seconds:.0f} s); rerun the same command to resume from "
               f"the checkpoint of epoch {self.saved}")
    self._exit("failed", f"jaxmem: error: {message}", 1, error=message)

  def failed_over_processes(self, e: Exception) -> None:
    """Over processes, an error here is mostly a collective whose peer is gone;
    JAX's exit would then wait on that peer, so this process ends here."""
    what = ("a collective with the other processes failed, a process was "
            "probably lost" if isinstance(e, jax.errors.JaxRuntimeError)
            else "failed, a process was perhaps lost")
    message = (f"{what} ({type(e).__name__}: {errors.cause(e)}); rerun the same "
               f"command to resume from the checkpoint of epoch {self.saved}")
    self._exit("failed", f"jaxmem: error: {message}", 1, error=message)

  # The run.

  def start(self, overwrite: bool, written: formats.Format) -> dict:
    """Prepares the workdir (under its lock), resumes or starts, trains."""
    wd, config = self.wd, self.config
    resume = admission.begin(wd, config.to_dict(), overwrite) if wd.writes else False
    resume = _shared_decision(wd, resume)
    # On CPU the devices' memory is the host's: a background save's host copy
    # of the state would live on beside the next epoch's, and its writing
    # would take the same cores. So saves block there (scripts/bench_records.py,
    # 1,024 lanes x 50,000 examples: peak memory 1.75 GB against 1.94-2.03 GB,
    # and no slower).
    self.ckpts = checkpoint.Checkpoints(wd.checkpoints, keep=config.checkpoint_keep,
                                        asynchronous=jax.default_backend() != "cpu")
    try:
      state = self.run.state
      if resume:
        state = resume_lib.resume(wd, self.ckpts, self.progress, self.run, written)
      self.saved = self.progress.epoch
      described = self.run.describe()
      if self.config_file:
        described["config_file"] = self.config_file
      wd.write_json("config.json", described)
      wd.set_status("running", epoch=self.progress.epoch, num_epochs=config.num_epochs)
      return self._train(state)
    except preemption.Preempted:
      raise
    except (errors.UserError, OSError) as e:
      if (wd.path / "status.json").exists():
        what = errors.filesystem(e, "cannot write") if isinstance(e, OSError) else e
        wd.set_status_anyhow("failed", epoch=self.progress.epoch, error=str(what))
      raise
    except BaseException as e:
      wd.set_status_anyhow("failed", epoch=self.progress.epoch,
                           error=f"{type(e).__name__}: {e}")
      raise
    finally:
      self.ckpts.close()

  def _due_save(self, epoch: int) -> bool:
    every = self.config.checkpoint_every_epochs
    return epoch == self.config.num_epochs or bool(every and epoch % every == 0)

  def _save(self, state) -> None:
    self.ckpts.save(self.progress.epoch,
                    self.run.checkpoint_tree(state, self.progress.diverged_epoch),
                    self.progress.meta())
    self.saved = self.progress.epoch

  def _train(self, state) -> dict:
    run, config, progress = self.run, self.config, self.progress
    programs = epoch_lib.Programs(run, state)
    logging.info("%d lanes (%s), compiled in %.1f s; lanes %s on each of %d "
                 "device(s); measures: %s", run.num_lanes,
                 ", ".join(run.lanes.axes) or "seeds only", programs.compile_s,
                 run.plan.describe()["lanes"], run.plan.num_devices,
                 ", ".join(m.name for m in run.measures))
    store = _history(run, self.wd, progress.epoch)
    board = _tensorboard(run, self.wd)
    per_epoch = run.task.steps_per_epoch * config.batch_size
    start, first, checkpoint_s = time.perf_counter(), progress.epoch, 0.0
    before = progress.elapsed  # Training seconds of the processes before this one.
    row_bytes = 600 * run.num_lanes  # Metrics per epoch, until measured.
    initial = programs.due(0)  # Measures of the initialization (GraNd at 0...).
    if progress.epoch == 0 and initial:
      compiled_before = programs.compile_s
      state, _ = programs.after_epoch(state, initial, 0)
      start += programs.compile_s - compiled_before
    for epoch in range(progress.epoch, config.num_epochs):
      if distributed.agree(self.signals.requested):  # A signal to any process stops all.
        break
      self.ckpts.check()  # A background save that failed stops the run here.
      if epoch == first or self._due_save(epoch):
        self._check_disk(store, epoch, row_bytes)
      state, out = programs.epoch(state, epoch)
      due = programs.due(epoch + 1)
      if due:
        compiled_before = programs.compile_s
        state, out["after"] = programs.after_epoch(state, due, epoch + 1)
        start += programs.compile_s - compiled_before  # Compiling is not training.
      # [L, N] each: only the history takes them home.
      presented, scores = out.pop("presented"), out.pop("scores")
      if store is not None:
        out["history"] = _history_slab(state, presented, scores, due)
      out = run.host(out)  # The epoch's one transfer (from every process).
      host_memory.release()  # What the last epoch and save freed, back to the OS.
      elapsed = before + time.perf_counter() - start
      newly = (progress.diverged_epoch < 0) & (out["diverged"] >= 0)
      progress.diverged_epoch[newly] = epoch + 1
      sums = {m.name: out.get(m.name, out.get("after", {}).get(m.name, {}))
              for m in run.measures}
      done = set(due) | {m.name for m in run.measures if m.in_epoch}
      rates = measures_lib.rows_rates(list(run.measures), done, sums, run.task,
                                      run.num_lanes)
      rates.update(step_loss=out["steps"][:, 0] / per_epoch,
                   step_acc=out["steps"][:, 1] / per_epoch)
      rows = _metrics_rows(run.lanes, rates, epoch + 1, elapsed, progress.diverged_epoch)
      row_bytes = progress.add_rows(rows, self.wd.append_metrics(rows))
      if store is not None:
        store.append(epoch + 1, out["history"])
      if board is not None:
        board.add(epoch + 1, rows)
      progress.epoch = epoch + 1
      if self._due_save(progress.epoch):
        progress.elapsed = elapsed
        saving = time.perf_counter()
        self._save(state)
        checkpoint_s += time.perf_counter() - saving
      self.wd.set_status("running", epoch=progress.epoch, num_epochs=config.num_epochs,
                         diverged_lanes=np.flatnonzero(progress.diverged_epoch >= 0))
      _log_progress(progress.epoch, config.num_epochs, run.num_lanes,
                    time.perf_counter() - start, progress.epoch - first, per_epoch, rates)
    if board is not None:
      board.close()
    if progress.epoch < config.num_epochs:  # Stopped by a signal (here or elsewhere).
      if self.saved != progress.epoch:
        progress.elapsed = before + time.perf_counter() - start
        self._save(state)
      self._stop(self.signals.signum or preemption.signal.SIGTERM)
    saving = time.perf_counter()
    self.ckpts.wait()
    checkpoint_s += time.perf_counter() - saving
    train_s = time.perf_counter() - start
    return self._finish(state, dict(
        compile_s=round(programs.compile_s, 2), train_s=round(train_s, 2),
        checkpoint_s=round(checkpoint_s, 2),  # Training blocked on saves.
        lane_examples_per_s=round(run.num_lanes * per_epoch * (config.num_epochs - first)
                                  / max(train_s, 1e-9), 1)))

  def _finish(self, state, timing: dict) -> dict:
    """summary.json, examples.npz and status "done"; returns the summary."""
    run, config, progress = self.run, self.config, self.progress
    last = progress.last_rows  # The final epoch, also when resumed at it.
    final = {m: np.asarray([np.nan if r[m] is None else r[m] for r in last])
             for m in summary_lib.METRICS}
    result = summary_lib.summarize(run.lanes, final, progress.diverged_epoch, timing)
    accumulators = dict(state.accumulators)
    del state  # Its buffers go as each measure's records are written.
    examples.write(self.wd, run, accumulators, progress.diverged_epoch)
    self.wd.write_json("summary.json", result)
    diverged = np.flatnonzero(progress.diverged_epoch >= 0)
    self.wd.set_status("done", epoch=config.num_epochs, num_epochs=config.num_epochs,
                       compile_s=result["compile_s"], train_s=result["train_s"],
                       diverged_lanes=diverged)
    if len(diverged):
      logging.warning("%d of %d lanes diverged (loss not finite): lanes %s; they "
                      "are left out of means and standard deviations",
                      len(diverged), run.num_lanes, diverged.tolist())
    return result

  def _check_disk(self, store, epoch: int, row_bytes: int) -> None:
    """Raises UserError, before training them, if the epochs up to the next
    checkpoint could not be saved for want of disk space."""
    run, num_epochs = self.run, self.config.num_epochs
    following = next(e for e in range(epoch + 1, num_epochs + 1) if self._due_save(e))
    size = budget.tree_bytes(run.checkpoint_tree(abstract=True))
    # A save still in flight may not have taken its space yet.
    need = size * (2 if self.ckpts.saving() else 1) + row_bytes * (following - epoch)
    if store is not None:
      need += history_lib.size(run.num_lanes, following - epoch, run.task.num_train,
                               run.task.num_test, len(run.task.presentation_scores))
    if following == num_epochs:  # examples.npz too (compressed: bounded by this).
      need += budget.tree_bytes(run.abstract_state().accumulators)
    budget.check_disk(self.wd.path, need, f"the checkpoint of epoch {following}")

  def _stop(self, signum: int) -> None:
    """Waits for the newest checkpoint, marks the run preempted and raises."""
    self.ckpts.wait()
    self.wd.set_status("preempted", epoch=self.progress.epoch,
                       num_epochs=self.config.num_epochs,
                       signal=preemption.signal.Signals(signum).name)
    raise preemption.Preempted(signum, self.progress.epoch, self.config.num_epochs)


def _shared_decision(wd: files.Workdir, resume: bool) -> bool:
  """Over several processes: process 0's decision to resume, once every
  process has checked that it sees the workdir process 0 prepared (a
  workdir on storage they do not share ends here, in one line, on all)."""
  if not distributed.spans_processes():
    return resume
  run_id = ownership.read_marker(wd.path)["run_id"] if wd.writes else ""
  decision = distributed.broadcast(dict(resume=resume, run_id=run_id))
  distributed.barrier("jaxmem workdir prepared")
  try:
    seen = (ownership.read_marker(wd.path) or {}).get("run_id")
  except errors.UserError:
    seen = None
  if distributed.agree(seen != decision["run_id"]):
    raise errors.UserError(
        f"--workdir {wd.path} is not the same folder for every process (process "
        f"{jax.process_index()} {'sees it' if seen == decision['run_id'] else 'does not see it'}"
        "): a run over several processes needs it on storage they share")
  return decision["resume"]


def _metrics_rows(lanes, rates: dict, epoch: int, elapsed: float,
                  diverged_epoch: np.ndarray) -> list[dict]:
  """One row per lane from the epoch's rates (float [L] each; NaN: null)."""
  finite = lambda x: float(x) if np.isfinite(x) else None
  return [dict(epoch=epoch, **lanes.describe(i),
               **{k: finite(v[i]) for k, v in rates.items()},
               diverged=bool(diverged_epoch[i] >= 0),
               diverged_epoch=int(diverged_epoch[i]) if diverged_epoch[i] >= 0
               else None,
               elapsed_s=round(elapsed, 3)) for i in range(len(lanes))]


def _history(run, wd, epoch: int):
  """The history store if the config keeps one, cut back to `epoch`."""
  task = run.task
  if distributed.spans_processes():
    if run.config.record_history == "on":
      raise errors.UserError(
          "config.record_history=on is not available over several processes yet "
          "(the accumulators are); valid there: auto (off) or off")
    return None
  if not history_lib.wanted(run.config, run.num_lanes, task.num_train, task.num_test,
                            len(task.presentation_scores)):
    return None
  store = history_lib.Store(wd.path / "history", run.num_lanes, run.config.num_epochs,
                            task.num_train, task.num_test, task.class_dtype,
                            task.presentation_scores)
  store.truncate(epoch)
  return store


def _history_slab(state, presented, scores, due) -> dict:
  """This epoch's per-example records, for the history store (on the device)."""
  slab = dict(presented=presented, **scores)
  if "learning" in due:
    slab["train_pred"] = state.accumulators["learning"]["pred"]
  if "test_eval" in due:
    slab["test_pred"] = state.accumulators["test_eval"]["pred"]
  return slab


def _tensorboard(run, wd):
  if not run.config.tensorboard or not wd.writes:
    return None
  from jaxmem.workdir import tensorboard  # pylint: disable=g-import-not-at-top
  return tensorboard.Writer(wd.path / "tensorboard", run.lanes,
                            per_lane=run.config.tensorboard_lanes)


def _log_progress(epoch, num_epochs, num_lanes, seconds, epochs_here,
                  per_epoch, rates) -> None:
  eta = seconds / epochs_here * (num_epochs - epoch)
  train, test, csr = rates["train_acc"], rates["test_acc"], rates["critical_ratio"]
  evaluated = (f"train_acc {np.nanmean(train):.3f} [{np.nanmin(train):.3f}, "
               f"{np.nanmax(train):.3f}]  test_acc {np.nanmean(test):.3f}"
               if np.any(np.isfinite(train)) else
               f"step_acc {np.nanmean(rates['step_acc']):.3f} (not evaluated)")
  logging.info(
      "epoch %d/%d  %d lanes  %.0f lane-examples/s  %s%s  ETA %.0f s", epoch,
      num_epochs, num_lanes, num_lanes * per_epoch * epochs_here / seconds, evaluated,
      f"  critical_ratio {np.nanmean(csr):.3f}" if np.any(np.isfinite(csr)) else "",
      eta)
