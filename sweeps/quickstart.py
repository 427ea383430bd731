"""Zhang et al. (2017) randomization tests on scikit-learn's 8x8 digits, in a minute.

Five conditions (true labels, random labels, shuffled pixels, random pixels,
Gaussian inputs) x 8 seeds = 40 lanes, trained at once. Zhang's point holds at
this scale: every lane fits its training set, whatever it holds, while only
the true labels generalize. The digits ship with scikit-learn: nothing to
download.

  jaxmem --experiment=quickstart --workdir=runs/quickstart
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "digits"
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"  # Zhang's per-image whitening.
  c.grid.condition = tuple(jaxmem.CONDITIONS)
  c.num_seeds = 8
  c.num_epochs = 60
  c.batch_size = 32
  c.optimizer = "sgd"
  c.learning_rate = 0.05
  c.momentum = 0.9
  c.lock()
  return c
