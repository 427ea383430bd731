"""Zhang et al. (2017) Figure 1b-c on Fashion-MNIST: label corruption 0, 0.1, ..., 1.0.

11 corruption levels x 3 seeds = ONE run of 33 lanes, with the data, model and
training of zhang_fashion_mnist. About 5 minutes on 2 CPU cores.

  jaxmem --experiment=zhang_corruption_fashion_mnist \\
      --workdir=runs/zhang_corruption_fashion_mnist
"""

from jaxmem.sweeps import zhang_fashion_mnist


def get_config():
  c = zhang_fashion_mnist.get_config()
  c.grid.condition = ()
  c.grid.label_corruption = tuple(round(0.1 * i, 1) for i in range(11))
  c.label_corruption_kind = "uniform"  # Zhang: the true class can come back.
  return c
