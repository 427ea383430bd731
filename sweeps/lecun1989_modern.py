"""Karpathy's (2022) modern LeNet 1989, change 4: ReLU and dropout, 80 passes.

`lecun1989_shift` with ReLU for tanh and dropout 0.25 on H2's output, before
H3, the layer with the most weights (Karpathy: 1.47% train / 1.59% test error).

  jaxmem --experiment=lecun1989_modern --workdir=runs/lecun1989_modern
"""

from jaxmem.sweeps import lecun1989_shift


def get_config():
  c = lecun1989_shift.get_config()
  c.model = "lenet1989_relu"
  c.dropout_rate = 0.25
  c.num_epochs = 80
  return c
