"""SIGTERM and SIGINT as "stop soon, lose nothing".

Schedulers (SLURM, Kubernetes, cloud preemption) send SIGTERM some seconds
before they kill a job; a user presses Ctrl-C (SIGINT). Either one sets a flag
that the epoch loop reads at the end of the epoch in progress (an epoch is one
compiled call, which cannot be cut short): the loop then writes a checkpoint,
waits for it, sets status.json to "preempted" and raises `Preempted`, which the
command turns into one line and exit status 128 + the signal's number (143 for
SIGTERM, 130 for SIGINT), as shells report a process ended by that signal.

A second signal means "now": the handler calls `on_second` (which records the
status) and exits at once with the same status. Nothing is corrupted: every
file is written atomically or cut back on resume, and an interrupted
checkpoint save is a temporary folder that the next start removes.
"""

import os
import signal
import threading

from absl import logging

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_status(signum: int) -> int:
  """The exit status that reports an end by signal `signum`."""
  return 128 + int(signum)


class Preempted(Exception):
  """The run stopped on a signal after saving everything; rerun to resume."""

  def __init__(self, signum: int, epoch: int, num_epochs: int):
    self.signum, self.epoch, self.num_epochs = signum, epoch, num_epochs
    super().__init__(
        f"stopped by {signal.Signals(signum).name} at epoch {epoch} of "
        f"{num_epochs}, checkpoint saved; rerun the same command to resume")

  @property
  def exit_status(self) -> int:
    return exit_status(self.signum)


class Signals:
  """Catches SIGTERM and SIGINT while a run trains (a context manager).

  Outside the main thread signals cannot be caught; there it does nothing.
  """

  def __init__(self, on_second=None):
    """Args: on_second: called with the signal number before a forced exit."""
    self.signum: int | None = None
    self._on_second = on_second
    self._previous = {}

  @property
  def requested(self) -> bool:
    return self.signum is not None

  def _handle(self, signum, frame) -> None:
    del frame
    if self.signum is None:
      self.signum = signum
      logging.warning("%s received: stopping at the end of this epoch, with a "
                      "checkpoint; a second signal stops at once",
                      signal.Signals(signum).name)
      return
    try:
      if self._on_second is not None:
        self._on_second(signum)
    finally:
      os._exit(exit_status(signum))  # pylint: disable=protected-access

  def __enter__(self) -> "Signals":
    if threading.current_thread() is threading.main_thread():
      for s in SIGNALS:
        self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}
