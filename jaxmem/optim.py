"""Optimizers and learning-rate schedules with per-lane hyperparameters.

`make` builds an optax transformation from one lane's hyperparameters, which
may be traced values (vmapped over lanes): the transformation is rebuilt inside
the step, so lanes with different learning rates, momenta and weight decays
share one compiled program. The state's structure never depends on the values.
"""

import jax.numpy as jnp
import optax

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "exponential", "multistep", "onecycle", "linear")


def schedule_factor(config, steps_per_epoch: int):
  """Returns a function of the step count giving the multiplier of the base lr.

  `constant`: 1. `exponential`: decay_rate ** epoch, applied per epoch (Zhang
  et al. 2017: x0.95). `multistep`: gamma ** (milestones passed). `onecycle`:
  optax's cosine one-cycle over the whole run, peaking at the base lr.
  `linear`: per epoch, from 1 at the first to final_factor at the last
  (Karpathy's modern LeNet 1989: 3e-4 to 1e-4).
  """
  total = steps_per_epoch * config.num_epochs
  if config.schedule == "constant":
    return lambda count: jnp.ones([], jnp.float32)
  if config.schedule == "exponential":
    return lambda count: config.decay_rate ** (count // steps_per_epoch)
  if config.schedule == "multistep":
    bounds = jnp.asarray([m * steps_per_epoch for m in config.milestones]
                         or [total + 1])
    return lambda count: config.gamma ** jnp.sum(count >= bounds)
  if config.schedule == "linear":
    last = max(config.num_epochs - 1, 1)
    return lambda count: 1.0 + (config.final_factor - 1.0) * (
        count // steps_per_epoch) / last
  if config.schedule == "onecycle":
    return optax.cosine_onecycle_schedule(total, 1.0)
  raise ValueError(f"unknown schedule {config.schedule!r}")


def make(config, hparams: dict, steps_per_epoch: int) -> optax.GradientTransformation:
  """Builds one lane's optimizer.

  Args:
    config: the experiment config (optimizer, nesterov, schedule fields).
    hparams: this lane's `learning_rate`, `momentum` and `weight_decay`,
      float32 scalars (traced under vmap).
    steps_per_epoch: steps in one epoch, for per-epoch schedules.

  Returns:
    An optax GradientTransformation. For sgd and adam the weight decay is an L2
    term on the gradient (as Zhang et al. used); adamw decouples it.
  """
  factor = schedule_factor(config, steps_per_epoch)
  lr = lambda count: hparams["learning_rate"] * factor(count)
  wd, mom = hparams["weight_decay"], hparams["momentum"]
  if config.optimizer == "sgd":
    return optax.chain(
        optax.add_decayed_weights(wd),
        optax.trace(decay=mom, nesterov=config.nesterov),
        optax.scale_by_learning_rate(lr))
  if config.optimizer == "adam":
    return optax.chain(optax.add_decayed_weights(wd),
                       optax.adam(lr, b1=mom))
  if config.optimizer == "adamw":
    return optax.adamw(lr, b1=mom, weight_decay=wd)
  raise ValueError(f"unknown optimizer {config.optimizer!r}")
