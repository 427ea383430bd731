"""Data pruning on USPS: keep a fraction by EL2N, forgetting or AUM, against random.

At one kept fraction, 80 lanes of an MLP 1x512 (sweep `scores_usps`'s
training): 8 seeds x 10 rules, random and, for each of EL2N (epoch 2),
forgetting and AUM, the hardest (what Toneva et al. 2019 and Paul et al. 2021
keep), the easiest, and coverage-centric stratified sampling (Zheng et al.
2023). Every lane trains on its own subset of the same size for 15 epochs
(fewer steps when less is kept, as Toneva's and Paul's epochs are). The
scores come from the difficulty table of a `scores_usps` run, joined on the
digits' official ids. Each fraction is a run of its own; `jaxmem report`
pools them into test accuracy against the fraction kept.
scripts/results_pruning.py runs it all (docs/results/pruning_usps.md).

  jaxmem --experiment=scores_usps --workdir=runs/scores_usps
  jaxmem analyze --workdir=runs/scores_usps
  for f in 0.1 0.3 0.5 0.7; do
    jaxmem --experiment=pruning_usps --config.pruning.fraction=$f \\
        --config.pruning.scores=runs/scores_usps/analysis/difficulty.csv \\
        --workdir=runs/pruning_usps_$f
  done
  jaxmem report --workdir=runs/scores_usps --workdir=runs/pruning_usps_0.1 \\
      --workdir=runs/pruning_usps_0.3 --workdir=runs/pruning_usps_0.5 \\
      --workdir=runs/pruning_usps_0.7 --out=reports/pruning_usps
"""

from jaxmem.sweeps import scores_usps

SCORES = ("el2n", "forgetting", "aum")


def get_config():
  c = scores_usps.get_config()
  c.unlock()
  c.scores.names = ()
  c.scores.el2n_epochs = ()
  c.grid.prune = ("random",) + tuple(f"{rule}:{score}" for score in SCORES
                                     for rule in ("hardest", "easiest", "stratified"))
  c.pruning.fraction = 0.5
  c.lock()
  return c
