"""Arpit et al. (2017) Figures 4 and 9: label noise 0-80%, patterns first, then memorization; dropout.

Label noise 0, 0.2, 0.4, 0.6, 0.8 x 2 seeds = ONE run of 10 lanes of an MLP
1x512 on the first 10000 Fashion-MNIST training images, SGD momentum 0.9 at a
constant lr 0.05 (no decay, so memorization is not cut short), batch 64, 40
epochs. With noise, test accuracy peaks early (the patterns) and falls as the
noisy labels are memorized; rerun with --config.dropout_rate=0.5 for Arpit's
regularization comparison: dropout slows the memorization of noisy labels
more than the learning of clean ones. About 2 minutes per run on 2 CPU cores.

  jaxmem --experiment=arpit_noise --workdir=runs/arpit_noise
  jaxmem --experiment=arpit_noise --config.dropout_rate=0.5 --workdir=runs/arpit_noise_dropout
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "fashion_mnist"
  c.train_size = 10_000
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"
  c.grid.label_corruption = (0.0, 0.2, 0.4, 0.6, 0.8)
  c.label_corruption_kind = "flip"  # Every corrupted label is wrong.
  c.num_seeds = 2
  c.num_epochs = 40
  c.batch_size = 64
  c.learning_rate = 0.05
  c.momentum = 0.9
  c.schedule = "constant"
  c.lock()
  return c
