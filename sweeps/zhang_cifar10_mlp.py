"""Zhang et al. (2017) Table 1, the MLP rows on CIFAR-10: weight decay and random labels.

True labels with and without weight decay, and random labels (both ways), x 2
seeds = ONE run of 8 lanes; the 3x512 rows are the same run with
--config.model=mlp_3x512. 28x28 centre crops, per-image whitening, SGD
momentum 0.9, lr 0.01 decayed x0.95 per epoch, batch 128 (Zhang's settings).
The paper does not state its weight decay; 1e-4 is the default of its first
author's public demo (pluskid/fitting-random-labels). CPU scale: the first
10000 training images (1000 per class) and 60 epochs, about 5 minutes for
1x512 on 2 cores; Zhang trained on all 50000 to convergence. On an
accelerator, for the paper's scale:

  jaxmem --experiment=zhang_cifar10_mlp --config.train_size=0 \\
      --config.num_seeds=8 --config.num_epochs=300

Without TFDS's prepared cifar10, this reads the JPEG copy (quality 75), so
pixels differ slightly from the original binary release.

  jaxmem --experiment=zhang_cifar10_mlp --workdir=runs/zhang_cifar10_mlp
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "cifar10"
  c.train_size = 10_000
  c.model = "mlp_1x512"
  c.preprocess.crop = 28
  c.preprocess.normalize = "standardize"
  c.grid.condition = ("true_labels", "random_labels")
  c.grid.weight_decay = (0.0, 1e-4)
  c.num_seeds = 2
  c.num_epochs = 60
  c.batch_size = 128
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.schedule = "exponential"
  c.decay_rate = 0.95
  c.lock()
  return c
