"""Arpit et al. (2017) Figure 10: the critical sample ratio over training, real vs random data.

True labels, random labels and Gaussian inputs x 2 seeds = ONE run of 6 lanes
of an MLP 1x512 on the first 10000 CIFAR-10 training images (Zhang's settings,
as zhang_cifar10_mlp), 30 epochs; every 5 epochs a Langevin adversarial search
(Arpit's box radius 0.3/255, 100 steps) around 512 training images counts the
critical ones. Arpit: networks fitting noise have more critical samples (a
more complex decision boundary). About 6 minutes on 2 CPU cores.

  jaxmem --experiment=arpit_critical --workdir=runs/arpit_critical
"""

from jaxmem.sweeps import arpit_one_epoch


def get_config():
  c = arpit_one_epoch.get_config()  # Data, MLP, conditions and shared draws.
  c.num_seeds = 2
  c.num_epochs = 30
  c.checkpoint_every_epochs = 5
  c.critical.every_epochs = 5
  c.critical.examples = 512
  return c
