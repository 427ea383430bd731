"""Jiang et al. (2021): C-scores of the 50,000 CIFAR-10 training images, by hold-out.

Each lane trains on its own random subset of config.subset_ratio of the
training set and is evaluated on all of it after the last epoch (only then:
eval_every_epochs = num_epochs, which is all a hold-out estimate needs and
about twice as fast end to end); an example's C-score is its held-out
accuracy averaged over runs at several subset ratios. One workdir per ratio
(the subset size sets the lanes' shapes); `jaxmem analyze` pools them, and
`--compare` joins the result with the C-scores Jiang et al. released, in the
official example order (../shared/data/cscores). Default: a CPU-scale MLP
1x512, 16 lanes, 10 epochs per ratio (scripts/results_cscores.py runs three):

  for r in 0.25 0.5 0.75; do
    jaxmem --experiment=jiang_cscores_cifar10 --config.subset_ratio=$r \\
        --workdir=runs/jiang_cscores_$r
  done
  jaxmem analyze --workdir=runs/jiang_cscores_0.25 --workdir=runs/jiang_cscores_0.5 \\
      --workdir=runs/jiang_cscores_0.75 --out=analysis/jiang \\
      --compare=../shared/data/cscores/cifar10-cscores-orig-order.npz

Full scale, on an accelerator, with Jiang's network for CIFAR (an Inception;
here Zhang's small Inception, or the CIFAR ResNet-18), ratios 10% to 90% and
hundreds of lanes per ratio:

  for r in 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9; do
    jaxmem --experiment=jiang_cscores_cifar10 --config.subset_ratio=$r \\
        --config.model=inception_small --config.preprocess.crop=28 \\
        --config.num_seeds=256 --config.num_epochs=60 --config.eval_every_epochs=60 \\
        --workdir=runs/jiang_cscores_inception_$r
  done
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "cifar10"
  c.model = "mlp_1x512"
  c.preprocess.normalize = "standardize"
  c.subset_ratio = 0.5
  c.num_seeds = 16
  c.num_epochs = 10
  c.eval_every_epochs = 10
  c.batch_size = 128
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.checkpoint_every_epochs = 0
  c.lock()
  return c
