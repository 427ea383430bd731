"""Karpathy's (2022) modern LeNet 1989, change 3: shifts by up to one pixel, 60 passes.

`lecun1989_adamw` with each training image rolled by -1, 0 or 1 pixel along
each axis (Karpathy: 1.70% train / 2.19% test error).

  jaxmem --experiment=lecun1989_shift --workdir=runs/lecun1989_shift
"""

from jaxmem.sweeps import lecun1989_adamw


def get_config():
  c = lecun1989_adamw.get_config()
  c.preprocess.random_shift = 1
  c.num_epochs = 60
  return c
