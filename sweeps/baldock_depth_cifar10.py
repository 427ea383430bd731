"""Baldock et al. (2021): prediction depth of a ResNet-18 (or VGG-16) on CIFAR-10.

Prediction depth is measured after the last epoch (config.depth.k = 30, the
paper's k): k-NN probes after every block and on the softmax output, each
lane's support set its own training examples with the labels it trained on
(jaxmem/measures/depth.py says how this follows the paper). Training as
toneva_cifar10_resnet18 (the CIFAR ResNet recipe). The model changes shapes,
so each is its own run: --config.model=vgg16 for the VGG-16 probes. Default:
a CPU smoke run (512 images, 2 seeds, 2 epochs: a few minutes on 2 cores):

  jaxmem --experiment=baldock_depth_cifar10 --workdir=runs/baldock_smoke

Full scale, on an accelerator (Baldock trained to convergence; 4 seeds):

  for m in resnet18 vgg16; do
    jaxmem --experiment=baldock_depth_cifar10 --config.model=$m \\
        --config.train_size=0 --config.test_size=0 --config.num_seeds=4 \\
        --config.num_epochs=200 --workdir=runs/baldock_$m
  done
  jaxmem report --workdir=runs/baldock_resnet18 --workdir=runs/baldock_vgg16 \\
      --out=reports/baldock
"""

from jaxmem.sweeps import toneva_cifar10_resnet18


def get_config():
  c = toneva_cifar10_resnet18.get_config()
  c.unlock()
  c.depth.k = 30
  c.lock()
  return c
