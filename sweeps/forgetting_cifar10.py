"""Forgetting events on CIFAR-10 (Toneva et al. 2019) with the small AlexNet of Zhang et al.

8 seeds of Zhang's small AlexNet (1,387,786 parameters on 28x28x3) trained with
random 28x28 crops and flips, as Toneva counts forgetting in the augmented
training pass; 30 epochs, SGD momentum 0.9, lr 0.01 x0.95 per epoch. Prediction
depth and C-score-style hold-out numbers come from `jaxmem report`;
critical samples every 10 epochs on 512 images. An accelerator job (hours on 2
CPU cores); a CPU smoke run:

  jaxmem --experiment=forgetting_cifar10 --config.train_size=2048 \\
      --config.test_size=512 --config.num_seeds=2 --config.num_epochs=2 \\
      --config.critical.examples=64 --workdir=runs/forgetting_cifar10_smoke
  jaxmem report --workdir=runs/forgetting_cifar10_smoke --critical_examples=64

  jaxmem --experiment=forgetting_cifar10 --workdir=runs/forgetting_cifar10
  jaxmem report --workdir=runs/forgetting_cifar10
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "cifar10"
  c.model = "alexnet_small"
  c.preprocess.crop = 28
  c.preprocess.random_crop = True
  c.preprocess.random_flip = True
  c.preprocess.normalize = "standardize"
  c.num_seeds = 8
  c.num_epochs = 30
  c.batch_size = 128
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.schedule = "exponential"
  c.decay_rate = 0.95
  c.critical.every_epochs = 10
  c.critical.examples = 512
  c.lock()
  return c
