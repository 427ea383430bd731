"""Toneva et al. (2019): forgetting events of a CIFAR ResNet-18 on CIFAR-10, their settings.

Toneva's run_cifar.py (github.com/mtoneva/example_forgetting): kuangliu's CIFAR
ResNet-18, SGD momentum 0.9, weight decay 5e-4, learning rate 0.1 x0.2 after
epochs 60, 120 and 160, batch 128, 200 epochs, random crops (4 pixels of zero
padding) and horizontal flips, 5 seeds; forgetting is counted in that
augmented training pass (examples.npz: `forgetting`, `first_learned`). Here
images are standardized per image (Toneva normalizes by the data set's channel
means), and the CIFAR-10 images are the JPEG copy. The default is a CPU smoke
run (512 images, 2 seeds, 2 epochs: a few minutes on 2 cores):

  jaxmem --experiment=toneva_cifar10_resnet18 --workdir=runs/toneva_resnet18_smoke

Full scale, on an accelerator (5 seeds x 200 epochs of 50,000 images):

  jaxmem --experiment=toneva_cifar10_resnet18 --config.train_size=0 \\
      --config.test_size=0 --config.num_seeds=5 --config.num_epochs=200 \\
      --workdir=runs/toneva_cifar10_resnet18
  jaxmem report --workdir=runs/toneva_cifar10_resnet18
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "cifar10"
  c.train_size = 512
  c.test_size = 512
  c.model = "resnet18"
  c.preprocess.pad = 4
  c.preprocess.random_flip = True
  c.preprocess.normalize = "standardize"
  c.num_seeds = 2
  c.num_epochs = 2
  c.batch_size = 128
  c.learning_rate = 0.1
  c.momentum = 0.9
  c.weight_decay = 5e-4
  c.schedule = "multistep"
  c.milestones = (60, 120, 160)
  c.gamma = 0.2
  c.checkpoint_every_epochs = 10
  c.lock()
  return c
