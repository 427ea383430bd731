"""Forgetting events (Toneva et al. 2019), from each example's presentations.

Judged in the training forward pass, as Toneva et al.'s code does (training
mode, augmented, before the update; github.com/mtoneva/example_forgetting):
a forgetting event is a presentation at which the example is misclassified
after being classified right at its previous presentation. Accumulated every
epoch, per lane and example:
  presentations   how many times it was presented;
  forgetting_events  the 1 -> 0 transitions between consecutive presentations;
  first_learned   the first epoch in which a presentation was right (Toneva's
                  `first_learned`), -1 never; ever_learned = first_learned > 0;
  forgetting      Toneva's sort key: the events, or, for an example never
                  learned, the number of epochs (her code counts such an
                  example as forgotten at every one of its `npresentations`);
  last_presented  its correctness at its last presentation (-1 never).
"""

import jax.numpy as jnp
import numpy as np

from jaxmem.measures.base import Measure
from jaxmem.measures.base import every_epoch


def _init(task):
  n = task.num_train
  return dict(presentations=jnp.zeros([n], task.epoch_dtype),
              events=jnp.zeros([n], task.epoch_dtype),
              first_learned=jnp.zeros([n], task.epoch_dtype),
              last=jnp.full([n], -1, jnp.int8))


def _update(ctx, acc):
  p = ctx.presented
  shown = p >= 0
  dtype = acc["events"].dtype
  forgot = shown & (p == 0) & (acc["last"] == 1)
  acc = dict(presentations=acc["presentations"] + shown.astype(dtype),
             events=acc["events"] + forgot.astype(dtype),
             first_learned=jnp.where((acc["first_learned"] == 0) & (p == 1),
                                     ctx.epoch.astype(dtype), acc["first_learned"]),
             last=jnp.where(shown, p, acc["last"]))
  return acc, {}


def _record(acc, task) -> dict:
  first, events = acc["first_learned"], acc["events"]
  learned = first > 0
  signed = task.epoch_index_dtype
  return dict(presentations=acc["presentations"], forgetting_events=events,
              first_learned=np.where(learned, first, -1).astype(signed),
              ever_learned=learned,
              forgetting=np.where(learned, events, task.config.num_epochs).astype(
                  events.dtype),
              last_presented=acc["last"])


MEASURES = [Measure("forgetting", enabled=lambda config: True, due=every_epoch,
                    init=_init, update=_update, record=_record, in_epoch=True)]
