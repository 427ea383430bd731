"""Zhang et al. (2017) Figure 1b-c on CIFAR-10 with the MLP 1x512: label corruption 0, 0.1, ..., 1.0.

11 corruption levels x 3 seeds = ONE run of 33 lanes, with the data, model and
training of zhang_cifar10 (10000 images, 30 epochs). About 11 minutes on 2
CPU cores.

  jaxmem --experiment=zhang_corruption_cifar10 --workdir=runs/zhang_corruption_cifar10
"""

from jaxmem.sweeps import zhang_cifar10


def get_config():
  c = zhang_cifar10.get_config()
  c.grid.condition = ()
  c.grid.label_corruption = tuple(round(0.1 * i, 1) for i in range(11))
  c.label_corruption_kind = "uniform"  # Zhang: the true class can come back.
  return c
