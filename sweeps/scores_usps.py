"""Per-example scores on all of USPS (forgetting, EL2N, AUM): what pruning ranks by.

8 lanes of an MLP 1x512 on the 7291 training digits, 15 epochs, recording
forgetting events (Toneva et al. 2019), EL2N after epoch 2 (Paul et al.
2021 score at epoch 20 of 200: early in training) and AUM (Pleiss et al.
2020). `jaxmem analyze` averages them over the seeds into the difficulty
table (analysis/difficulty.csv), the score file of sweep `pruning_usps`;
these runs are also its full-data reference. scripts/results_pruning.py runs
both (docs/results/pruning_usps.md).

  jaxmem --experiment=scores_usps --workdir=runs/scores_usps
  jaxmem analyze --workdir=runs/scores_usps
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "usps"
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"
  c.num_seeds = 8
  c.num_epochs = 15
  c.batch_size = 64
  c.learning_rate = 0.02
  c.momentum = 0.9
  c.eval_every_epochs = 15
  c.record_history = "off"
  c.scores.names = ("aum", "el2n")
  c.scores.el2n_epochs = (2,)
  c.lock()
  return c
