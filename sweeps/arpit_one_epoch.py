"""Arpit et al. (2017) Figure 1: per-example error after one epoch, real vs random data.

100 seeds x (true labels, random labels, Gaussian inputs) = ONE run of 300
lanes of an MLP 1x512 on the first 10000 CIFAR-10 training images (Zhang's
settings, as zhang_cifar10_mlp), trained for one epoch. One random draw of
labels and inputs is shared by every lane (config.corruption_draw), so each
example is the same in every lane and its error rate over the lanes says how
easy it is: on real data some examples are learned by nearly every lane and
others by almost none; on random data every example is about equally hard.
About 4 minutes on 2 CPU cores.

  jaxmem --experiment=arpit_one_epoch --workdir=runs/arpit_one_epoch
"""

from jaxmem.sweeps import zhang_cifar10_mlp


def get_config():
  c = zhang_cifar10_mlp.get_config()
  c.grid.weight_decay = ()
  c.grid.condition = ("true_labels", "random_labels", "gaussian")
  c.corruption_draw = "shared"
  c.num_seeds = 100
  c.num_epochs = 1
  c.checkpoint_every_epochs = 0
  return c
