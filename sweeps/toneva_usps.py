"""Forgetting events (Toneva et al. 2019) on the 7291 USPS training digits.

8 seeds of toneva_fashion_mnist's MLP 1x512 and training, 30 epochs. Under a
minute on 2 CPU cores.

  jaxmem --experiment=toneva_usps --workdir=runs/toneva_usps
"""

from jaxmem.sweeps import toneva_fashion_mnist


def get_config():
  c = toneva_fashion_mnist.get_config()
  c.dataset = "usps"
  c.num_seeds = 8
  c.num_epochs = 30
  return c
