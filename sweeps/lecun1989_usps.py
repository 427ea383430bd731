"""LeCun et al. (1989) on its own data, with Karpathy's (2022) repro settings.

The 9,760-parameter zip-code net (5x5 stride-2 convs with unshared biases, H2
seeing 8 of 12 maps, tanh) on the real USPS split (7291 train / 2007 test,
16x16 in [-1, 1]): SGD without momentum, batch size 1, learning rate 0.03, 23
passes, MSE to +-1 targets; 32 seeds as 32 lanes. The paper reports 0.14% train
/ 5.00% test error; Karpathy, on MNIST standing in for the lost data, 0.62% /
4.09%.

  jaxmem --experiment=lecun1989_usps --workdir=runs/lecun1989_usps
"""

import jaxmem


def get_config():
  c = jaxmem.base_config()
  c.dataset = "usps"
  c.model = "lenet1989"
  c.preprocess.normalize = "minus_one_one"  # The 1989 net sees [-1, 1].
  c.num_seeds = 32
  c.num_epochs = 23
  c.batch_size = 1
  c.loss = "mse"
  c.optimizer = "sgd"
  c.learning_rate = 0.03
  c.momentum = 0.0
  c.lock()
  return c
