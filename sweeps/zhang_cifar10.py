"""Zhang et al. (2017) Figure 1a on CIFAR-10 with the MLP 1x512: the five randomization tests.

True labels, random labels, shuffled pixels, random pixels and Gaussian inputs
x 3 seeds = ONE run of 15 lanes, on the first 10000 training images (28x28
centre crops, per-image whitening), with Table 1's MLP settings (sweep
zhang_cifar10_mlp) but 30 epochs. About 5 minutes on 2 CPU cores. Figure 1b-c
is zhang_corruption_cifar10. Full scale on an accelerator:

  jaxmem --experiment=zhang_cifar10 --config.train_size=0 --config.num_epochs=300

  jaxmem --experiment=zhang_cifar10 --workdir=runs/zhang_cifar10
"""

import jaxmem
from jaxmem.sweeps import zhang_cifar10_mlp


def get_config():
  c = zhang_cifar10_mlp.get_config()  # Data, MLP 1x512 and Zhang's training.
  c.grid.weight_decay = ()
  c.grid.condition = tuple(jaxmem.CONDITIONS)
  c.num_seeds = 3
  c.num_epochs = 30
  return c
