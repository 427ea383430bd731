"""Per-example difficulty on Fashion-MNIST, with a fifth of the labels flipped.

16 lanes of an MLP 1x512, each on its own random half of the 60000 training
images, 20% of the labels flipped to another class (one draw for all lanes) (Toneva et al.
2019's noisy-label setting: flipped examples should be forgotten more, learned
later, predicted deeper and get low C-scores). Critical samples measured every
5 epochs on 512 examples (Arpit et al. 2017). Training takes about 8 minutes
on 2 CPU cores; the report's prediction depth (k-NN over 60000 examples at
three layers) about 2 minutes per lane more.

  jaxmem --experiment=difficulty_fashion_mnist --workdir=runs/difficulty_fashion_mnist
  jaxmem report --workdir=runs/difficulty_fashion_mnist
"""

from jaxmem.sweeps import difficulty_usps


def get_config():
  c = difficulty_usps.get_config()  # The same MLP, subsets and measures.
  c.dataset = "fashion_mnist"
  c.label_corruption = 0.2
  c.label_corruption_kind = "flip"
  # One noisy data set for every lane (Toneva's setting), so that held-out
  # accuracy and memorization are judged on the same labels in every lane.
  c.corruption_draw = "shared"
  c.num_seeds = 16
  c.num_epochs = 20
  c.batch_size = 128
  return c
