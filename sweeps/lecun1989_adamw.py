"""Karpathy's (2022) modern LeNet 1989, change 2: AdamW, 46 passes.

`lecun1989_ce` with AdamW (PyTorch's defaults: betas 0.9/0.999, decoupled
weight decay 0.01) at 3e-4, decayed linearly per pass to 1e-4, for twice the
passes (Karpathy: 0.00% train / 3.59% test error).

  jaxmem --experiment=lecun1989_adamw --workdir=runs/lecun1989_adamw
"""

from jaxmem.sweeps import lecun1989_ce


def get_config():
  c = lecun1989_ce.get_config()
  c.optimizer = "adamw"
  c.learning_rate = 3e-4
  c.momentum = 0.9  # Adam's b1.
  c.weight_decay = 0.01  # torch.optim.AdamW's default.
  c.schedule = "linear"
  c.final_factor = 1.0 / 3
  c.num_epochs = 46
  return c
