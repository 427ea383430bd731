"""Zhang et al. (2017) randomization tests on USPS, the 1989 zip-code digits.

True labels, random labels, shuffled pixels, random pixels and Gaussian inputs
x 8 seeds = 40 lanes of an MLP 1x512 on 7291 16x16 digits (test: 2007), SGD with
momentum 0.9 and Zhang's x0.95 per-epoch decay. Every condition should fit its
training set; only true labels generalize.

  jaxmem --experiment=zhang_usps --workdir=runs/zhang_usps
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "usps"
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"  # Zhang's per-image whitening.
  c.grid.condition = tuple(jaxmem.CONDITIONS)
  c.num_seeds = 8
  c.num_epochs = 60
  c.batch_size = 64
  c.learning_rate = 0.05
  c.momentum = 0.9
  c.schedule = "exponential"
  c.decay_rate = 0.98
  c.lock()
  return c
