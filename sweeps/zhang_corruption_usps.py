"""Zhang et al. (2017) Figure 1b-c on USPS: label corruption 0, 0.1, ..., 1.0.

11 corruption levels x 8 seeds = ONE run of 88 lanes of an MLP 1x512 on the
7291 USPS training digits. Each seed index draws one corruption, so a seed's
corrupted labels at level p are a superset of those at any lower level. Test
accuracy falls steadily with the corruption level (94% -> 10%), while training
accuracy on the (partly random) labels stays high: 60 epochs (about 10
minutes on 2 CPU cores) take random labels to about 92% and still rising;
Zhang et al. train to convergence, e.g. on an accelerator with
--config.num_epochs=300.

  jaxmem --experiment=zhang_corruption_usps --workdir=runs/zhang_corruption_usps
"""

from jaxmem.sweeps import zhang_usps


def get_config():
  c = zhang_usps.get_config()  # The same MLP 1x512, data and training.
  c.grid.condition = ()
  c.grid.label_corruption = tuple(round(0.1 * i, 1) for i in range(11))
  c.label_corruption_kind = "uniform"  # Zhang: the true class can come back.
  return c
