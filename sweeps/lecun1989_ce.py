"""Karpathy's (2022) modern LeNet 1989, change 1: linear logits and cross-entropy.

`lecun1989_usps` with the output tanh replaced by linear logits trained with
softmax cross-entropy, and the learning rate lowered to 0.01 (Karpathy, on
MNIST standing in for USPS: 0.00% train / 4.38% test error after 23 passes).
The later changes build on this one: lecun1989_adamw, lecun1989_shift,
lecun1989_modern. 16 seeds at CPU scale.

  jaxmem --experiment=lecun1989_ce --workdir=runs/lecun1989_ce
"""

from jaxmem.sweeps import lecun1989_usps


def get_config():
  c = lecun1989_usps.get_config()
  c.model = "lenet1989_linear"
  c.loss = "cross_entropy"
  c.learning_rate = 0.01
  c.num_seeds = 16
  return c
