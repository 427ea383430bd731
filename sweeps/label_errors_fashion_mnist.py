"""Finding mislabelled examples: every per-example score on noisy Fashion-MNIST.

16 lanes of an MLP 1x512 on the first 10,000 Fashion-MNIST training images,
8 seeds at each of 20% and 40% label noise (one noisy data set per level,
`corruption_draw="shared"`, so that scores can also be averaged over seeds),
recording every score: forgetting, AUM (Pleiss et al. 2020), data maps
(Swayamdipta et al. 2020), mean loss and entropy, EL2N after epochs 2 and 20
and GraNd at the initialization and after epoch 2 (Paul et al. 2021).
`jaxmem analyze` then reports how well each score finds the corrupted labels
(AUROC and average precision, mean +- std over seeds). About 5 minutes on 2
CPU cores; scripts/results_detection.py runs it for flip and uniform noise,
with and without AUM's threshold samples (docs/results/label_errors.md).

  jaxmem --experiment=label_errors_fashion_mnist --workdir=runs/label_errors
  jaxmem --experiment=label_errors_fashion_mnist --config.label_corruption_kind=uniform \\
      --workdir=runs/label_errors_uniform
  jaxmem analyze --workdir=runs/label_errors
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "fashion_mnist"
  c.train_size = 10000
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"
  c.label_corruption_kind = "flip"
  c.grid.label_corruption = (0.2, 0.4)
  c.corruption_draw = "shared"
  c.num_seeds = 8
  c.num_epochs = 20
  c.batch_size = 128
  c.learning_rate = 0.02
  c.momentum = 0.9
  c.eval_every_epochs = 5
  c.scores.names = ("aum", "data_map", "loss", "entropy", "el2n", "grand")
  c.scores.el2n_epochs = (2, 20)
  c.scores.grand_epochs = (0, 2)
  c.lock()
  return c
