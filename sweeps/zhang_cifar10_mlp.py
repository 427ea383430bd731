"""Zhang et al. (2017) Table 1, MLP 1x512 on CIFAR-10: true vs random labels.

28x28 centre crops, per-image whitening, SGD momentum 0.9, lr 0.01 decayed
x0.95 per epoch, batch 128 (Zhang's settings). CPU scale: 2 seeds and 20
epochs, enough for true labels and for a visible start of memorizing random
labels; Zhang trained to convergence (random labels fit 99.34%). On an
accelerator, for the paper's scale:

  jaxmem --experiment=zhang_cifar10_mlp --config.num_seeds=8 --config.num_epochs=300

Without TFDS's prepared cifar10, this reads the JPEG copy (quality 75), so
pixels differ slightly from the original binary release.

  jaxmem --experiment=zhang_cifar10_mlp --workdir=runs/zhang_cifar10_mlp
"""

from jaxmem import experiment


def get_config():
  c = experiment.base_config()
  c.dataset = "cifar10"
  c.model = "mlp_1x512"
  c.preprocess.crop = 28
  c.preprocess.normalize = "standardize"
  c.grid.condition = ("true_labels", "random_labels")
  c.num_seeds = 2
  c.num_epochs = 20
  c.batch_size = 128
  c.learning_rate = 0.01
  c.momentum = 0.9
  c.schedule = "exponential"
  c.decay_rate = 0.95
  c.lock()
  return c
