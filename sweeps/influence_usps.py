"""Memorization and train -> test influence on USPS (Feldman & Zhang 2020).

256 lanes of an MLP 1x512, each trained on its own random 70% of the 7291
training digits (Feldman & Zhang's subset design), evaluated once after the
last epoch, keeping each lane's final margin and probability of the label on
every training and test digit (examples.npz: `train_margin`, `train_prob`,
`test_margin`, `test_prob`, with `in_subset`: the datamodels store).
`jaxmem analyze` then gives each training digit's memorization (from
correctness and from the label's probability, with standard errors), and
`jaxmem.open(workdir).influence(k)` the training -> test pairs of largest
influence. scripts/results_influence.py makes docs/results/influence_usps.md.
About 6 minutes on 2 CPU cores; Feldman & Zhang train thousands of models,
so here only the largest influences stand out of their standard errors.

  jaxmem --experiment=influence_usps --workdir=runs/influence_usps
  jaxmem analyze --workdir=runs/influence_usps
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "usps"
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"
  c.subset_ratio = 0.7
  c.num_seeds = 256
  c.num_epochs = 15
  c.batch_size = 64
  c.learning_rate = 0.02
  c.momentum = 0.9
  c.eval_every_epochs = 15
  c.record_history = "off"
  c.lock()
  return c
