"""Forgetting events (Toneva et al. 2019) on all 50000 CIFAR-10 training images, with an MLP.

4 seeds of an MLP 1x512 with Zhang's CIFAR-10 settings (28x28 centre crops,
per-image whitening, SGD momentum 0.9, lr 0.01 x0.95 per epoch, batch 128), 20
epochs. About 4 minutes on 2 CPU cores. Toneva's CIFAR-10 numbers come from a
ResNet-18 with augmentation trained to near 100% training accuracy, which the
MLP does not reach: forgetting_cifar10 (Zhang's small AlexNet, random crops
and flips) is the accelerator-sized counterpart.

  jaxmem --experiment=toneva_cifar10 --workdir=runs/toneva_cifar10
"""

from jaxmem.sweeps import zhang_cifar10_mlp


def get_config():
  c = zhang_cifar10_mlp.get_config()
  c.train_size = 0
  c.grid.condition = ()
  c.grid.weight_decay = ()
  c.num_seeds = 4
  c.num_epochs = 20
  return c
