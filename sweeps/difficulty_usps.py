"""Per-example difficulty on USPS: forgetting, prediction depth, critical samples, C-scores.

32 lanes of an MLP 1x512, each trained on its own random half of the 7291
training digits (Jiang et al. 2021's hold-out design), so that one run gives
every example's forgetting events (Toneva et al. 2019), prediction depth
(Baldock et al. 2021), criticality (Arpit et al. 2017, measured every 5
epochs) and its held-out accuracy. C-scores average the held-out accuracy over
subset ratios: run it at several and analyse them together.

  for r in 0.25 0.5 0.75; do
    jaxmem --experiment=difficulty_usps --config.subset_ratio=$r \\
        --workdir=runs/difficulty_usps_$r
  done
  jaxmem report --workdir=runs/difficulty_usps_0.25 \\
      --workdir=runs/difficulty_usps_0.5 --workdir=runs/difficulty_usps_0.75 \\
      --out=reports/difficulty_usps
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "usps"
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"
  c.subset_ratio = 0.5
  c.num_seeds = 32
  c.num_epochs = 30
  c.batch_size = 64
  c.learning_rate = 0.02
  c.momentum = 0.9
  c.critical.every_epochs = 5
  c.critical.examples = 512
  c.lock()
  return c
