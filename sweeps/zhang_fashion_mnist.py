"""Zhang et al. (2017) Figure 1a on Fashion-MNIST: the five randomization tests.

True labels, random labels, shuffled pixels, random pixels and Gaussian inputs
x 3 seeds = ONE run of 15 lanes of an MLP 1x512 on the first 10000 training
images (test: 10000), with zhang_usps's training (SGD momentum 0.9, lr 0.05
x0.98 per epoch, batch 64) for 40 epochs. About 5 minutes on 2 CPU cores.
Figure 1b-c is zhang_corruption_fashion_mnist. Full scale on an accelerator:

  jaxmem --experiment=zhang_fashion_mnist --config.train_size=0 --config.num_epochs=300

  jaxmem --experiment=zhang_fashion_mnist --workdir=runs/zhang_fashion_mnist
"""

from jaxmem.sweeps import zhang_usps


def get_config():
  c = zhang_usps.get_config()  # The same MLP 1x512 and training.
  c.dataset = "fashion_mnist"
  c.train_size = 10_000
  c.num_seeds = 3
  c.num_epochs = 40
  return c
