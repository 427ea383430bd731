"""Forgetting events (Toneva et al. 2019) on all 60000 Fashion-MNIST training images.

4 seeds of zhang_usps's MLP 1x512 and training (SGD momentum 0.9, lr 0.05
x0.98 per epoch, batch 64), 20 epochs, each example's correctness recorded
whenever it is presented (examples.npz, `presented_correct`): the counts of
forgetting events and the fraction of unforgettable examples, and the ranking
for Toneva's removal experiment (scripts/results_toneva.py trains the same
config on what is left, through config.train_indices). About 3 minutes on 2
CPU cores.

  jaxmem --experiment=toneva_fashion_mnist --workdir=runs/toneva_fashion_mnist
"""

from jaxmem.sweeps import zhang_usps


def get_config():
  c = zhang_usps.get_config()
  c.dataset = "fashion_mnist"
  c.grid.condition = ()  # True labels only.
  c.num_seeds = 4
  c.num_epochs = 20
  return c
