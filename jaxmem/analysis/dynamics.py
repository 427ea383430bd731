"""Learning dynamics per example from the full per-epoch history.

The run records the same quantities as on-device accumulators
(jaxmem.measures); these functions compute them from a history
(jaxmem.workdir.history, `config.record_history`), for studies that want other
statistics of the trajectory, and to check the accumulators against.

Toneva et al. (2019): a forgetting event is a presentation at which an example
is misclassified after having been classified correctly at its previous
presentation, both judged in the training forward pass (training mode,
augmented, before the update): the history's `presented`. An example never
classified correctly is counted, as in Toneva's code, as forgotten at every
epoch (her `npresentations`), so it sorts after every example that was
learned. Unforgettable examples are learned and never forgotten.

Arpit et al. (2017, Fig. 1): an example's error rate over lanes after a given
epoch.

All functions take arrays with the epoch axis second to last, [..., E, N]
(typically [lanes, epochs, examples]), and reduce it.
"""

import numpy as np


def forgetting_events(presented: np.ndarray) -> np.ndarray:
  """Counts forgetting events per example.

  Args:
    presented: int8 [..., E, N]: 1 correct, 0 wrong when presented in epoch e;
      -1 when not presented that epoch.

  Returns:
    int [..., N]: the number of 1 -> 0 transitions between consecutive
    presentations; for an example never correct, the number of epochs E.
  """
  presented = np.asarray(presented)
  epochs = presented.shape[-2]
  valid = presented >= 0
  position = np.where(valid, np.arange(epochs)[:, None], -1)
  last_valid = np.maximum.accumulate(position, axis=-2)
  previous = np.concatenate(
      [np.full_like(last_valid[..., :1, :], -1), last_valid[..., :-1, :]], axis=-2)
  previous_value = np.take_along_axis(presented, np.maximum(previous, 0), axis=-2)
  events = valid & (presented == 0) & (previous >= 0) & (previous_value == 1)
  count = events.sum(axis=-2)
  never_learned = ~np.any(presented == 1, axis=-2)
  return np.where(never_learned, epochs, count)


def unforgettable(presented: np.ndarray) -> np.ndarray:
  """bool [..., N]: learned at some presentation and never forgotten after."""
  presented = np.asarray(presented)
  return np.any(presented == 1, axis=-2) & (forgetting_events(presented) == 0)


def first_learned_epoch(correct: np.ndarray) -> np.ndarray:
  """int [..., N]: the first epoch (1-based) in which it is correct; -1 never.

  On the end-of-epoch correctness this is the `first_correct` accumulator; on
  the presentations (1 correct), Toneva's `first_learned`.
  """
  correct = np.asarray(correct, bool)
  first = np.argmax(correct, axis=-2) + 1
  return np.where(np.any(correct, axis=-2), first, -1)


def settled_epoch(pred: np.ndarray) -> np.ndarray:
  """int [..., N]: the epoch (1-based) from which the prediction never changes.

  Judged on the end-of-epoch predictions (the history's `train_pred`): 1 if
  the prediction never changed, E if it changed at the last epoch.
  """
  pred = np.asarray(pred)
  differs = pred != pred[..., -1:, :]
  epochs = pred.shape[-2]
  last_change = epochs - 1 - np.argmax(differs[..., ::-1, :], axis=-2)
  return np.where(np.any(differs, axis=-2), last_change + 1, 0) + 1


def error_rate(correct: np.ndarray, epoch: int) -> np.ndarray:
  """float [N]: the fraction of lanes that get each example wrong after `epoch`.

  Args:
    correct: bool [L, E, N], correctness at the end of every epoch.
    epoch: 1-based.
  """
  correct = np.asarray(correct, bool)
  if not 1 <= epoch <= correct.shape[-2]:
    raise ValueError(f"epoch must be in 1..{correct.shape[-2]}, got {epoch}")
  return 1.0 - correct[:, epoch - 1].mean(axis=0)
