"""Lanes: everything about a lane, one complete training run of a sweep.

The config's grid x seeds expand into lanes (`expand`: their identities on the
host); each lane's constants live on the device as one pytree (`Lane`, with a
leading lane axis there, made by `one_lane` lifted over the lanes): its
hyperparameters, the labels it trains on, the subset it trains on, its input
corruption and its random keys.

A lane's keys depend only on the config's `seed` and the lane's seed index,
never on how many lanes run beside it or in what order: a sweep grown from 8
to 32 seeds reproduces its first 8 seeds, and lanes of different grid points
with the same seed index share their initialization, data order and
(per-seed) corruption draw, so conditions are compared paired.
"""

import dataclasses
import itertools

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import config as config_lib
from jaxmem.datasets import corruption
from jaxmem.datasets import pruning

# Named random streams, split from a lane's key by fold_in with these constants.
STREAMS = {"init": 1, "corruption": 2, "order": 3, "dropout": 4, "augment": 5,
           "subset": 6, "critical": 7, "threshold": 8}
# Streams read only while a lane's constants are made (the labels keep what
# they drew): not kept in Lane.keys, so checkpoints hold only what training reads.
MADE_ONCE = ("threshold",)


@dataclasses.dataclass(frozen=True)
class Lanes:
  """Every lane of a run, on the host.

  Attributes:
    axes: the grid axes the config varies.
    coords: per lane, its grid coordinates {axis: value}.
    point: int [L], each lane's grid point (position in the grid's order).
    seed_index: int [L], each lane's seed index in [0, num_seeds).
    hparams: {learning_rate, weight_decay, momentum}: float32 [L] each.
    label_corruption: float32 [L], each lane's corruption level.
    input_kinds: the input corruptions present, in INPUT_KINDS order (static).
    input_code: int32 [L], each lane's input corruption, a position in
      `input_kinds`.
    prunes: the pruning rules present (config.prune), in grid order (static).
    prune_code: int32 [L], each lane's rule, a position in `prunes`.
  """
  axes: tuple[str, ...]
  coords: list[dict]
  point: np.ndarray
  seed_index: np.ndarray
  hparams: dict[str, np.ndarray]
  label_corruption: np.ndarray
  input_kinds: tuple[str, ...]
  input_code: np.ndarray
  prunes: tuple[str, ...]
  prune_code: np.ndarray

  def __len__(self) -> int:
    return len(self.seed_index)

  def describe(self, lane: int) -> dict:
    """Returns lane `lane`'s identity: id, seed index and grid coordinates."""
    return dict(lane=lane, seed=int(self.seed_index[lane]),
                **self.coords[lane])


def grid_axes(config) -> tuple[str, ...]:
  """Returns the grid axes that this config varies, in declaration order."""
  return tuple(a for a in config_lib.GRID_AXES if len(config.grid[a]) > 0)


def points(config) -> list[dict]:
  """Returns the grid's points in order, each with every per-lane value resolved.

  Each point holds the grid coordinates under their axis names plus the
  resolved values of every numeric axis and `input_corruption`. A point's
  `condition` (if the grid has that axis) expands to its preset values.
  """
  axes = grid_axes(config)
  found = []
  for values in itertools.product(*(tuple(config.grid[a]) for a in axes)):
    coords = dict(zip(axes, values))
    resolved = {a: config[a] for a in config_lib.NUMERIC_AXES + ("input_corruption", "prune")}
    if "condition" in coords:
      resolved.update(config_lib.CONDITIONS[coords["condition"]])
    resolved.update({a: v for a, v in coords.items() if a != "condition"})
    found.append(dict(coords=coords, **resolved))
  return found


def resolved(lanes: Lanes, lane: int) -> dict:
  """Returns every per-lane value of `lane`, presets expanded."""
  return dict(label_corruption=float(lanes.label_corruption[lane]),
              input_corruption=lanes.input_kinds[lanes.input_code[lane]],
              prune=lanes.prunes[lanes.prune_code[lane]],
              **{k: float(v[lane]) for k, v in lanes.hparams.items()})


def count(config) -> int:
  """The number of lanes, without expanding them: grid points x seeds."""
  return len(points(config)) * int(config.num_seeds)


def input_kinds(config) -> tuple[str, ...]:
  """The input corruptions the lanes use, in INPUT_KINDS order."""
  present = {p["input_corruption"] for p in points(config)}
  return tuple(k for k in corruption.INPUT_KINDS if k in present)


def prunes(config) -> tuple[str, ...]:
  """The pruning rules the lanes use, in grid order ("none": no pruning)."""
  return tuple(dict.fromkeys(p["prune"] for p in points(config)))


def pruned(config) -> bool:
  """Whether the lanes train on subsets chosen by pruning rules."""
  return prunes(config) != ("none",)


def expand(config) -> Lanes:
  """Expands the config's grid x seeds into lanes, grid-major, seed-minor."""
  grid = points(config)
  seeds = range(config.first_seed, config.first_seed + config.num_seeds)
  rows = [(i, s) for i in range(len(grid)) for s in seeds]
  lane_points = [grid[i] for i, _ in rows]
  kinds, rules = input_kinds(config), prunes(config)
  column = lambda key: np.asarray([p[key] for p in lane_points], np.float32)
  return Lanes(
      axes=grid_axes(config),
      coords=[p["coords"] for p in lane_points],
      point=np.asarray([i for i, _ in rows], np.int32),
      seed_index=np.asarray([s for _, s in rows], np.int32),
      hparams={k: column(k) for k in ("learning_rate", "weight_decay",
                                       "momentum")},
      label_corruption=column("label_corruption"),
      input_kinds=kinds,
      input_code=np.asarray(
          [kinds.index(p["input_corruption"]) for p in lane_points],
          np.int32),
      prunes=rules,
      prune_code=np.asarray([rules.index(p["prune"]) for p in lane_points], np.int32),
  )


class Lane(struct.PyTreeNode):
  """One lane's constants: what makes this run different from the others."""
  hparams: dict[str, jax.Array]  # learning_rate, weight_decay, momentum: []
  labels: jax.Array  # int32 [N], the labels this lane trains on
  subset: jax.Array  # int32 [M], the training examples it trains on (M <= N)
  input_code: jax.Array  # int32 [], a position in Task.input_kinds
  keys: dict[str, jax.Array]  # uint32 [2] per stream in STREAMS, MADE_ONCE aside
  # float32 {"train": [N, H, W, C], "test": [M, H, W, C]}: the lane's corrupted
  # images, computed once (config.cache_inputs), or None: made at each use.
  images: dict[str, jax.Array] | None = None


def subset_size(config, num_train: int) -> int:
  """The number of training examples each lane trains on."""
  if pruned(config):
    return max(1, round(config.pruning.fraction * num_train))
  if config.subset_ratio:
    return max(1, round(config.subset_ratio * num_train))
  return num_train


def abstract(config, num_train: int) -> Lane:
  """One lane's constants as shapes and dtypes (no images)."""
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  scalar = jax.ShapeDtypeStruct((), jnp.float32)
  return Lane(
      hparams={k: scalar for k in ("learning_rate", "weight_decay", "momentum")},
      labels=jax.ShapeDtypeStruct((num_train,), jnp.int32),
      subset=jax.ShapeDtypeStruct((subset_size(config, num_train),), jnp.int32),
      input_code=jax.ShapeDtypeStruct((), jnp.int32),
      keys={name: key for name in STREAMS if name not in MADE_ONCE})


def identity(lanes: Lanes) -> dict[str, np.ndarray]:
  """What makes each lane itself, as host arrays [L]: its seed index, label
  corruption level, hyperparameters, input corruption and pruning rule."""
  return dict(seed_index=lanes.seed_index, level=lanes.label_corruption,
              hparams=lanes.hparams, input_code=lanes.input_code,
              prune_code=lanes.prune_code)


def pruning_plan(config, dataset) -> tuple[pruning.Plan | None, dict | None]:
  """Every pruning rule's choice on `dataset`'s training set (host arrays,
  [P, ...], P = len(prunes(config))), its score file joined on the official
  ids, and what config.json records of it (the file and its SHA-256, the
  examples kept); (None, None) when nothing is pruned."""
  if not pruned(config):
    return None, None
  n = len(dataset.train.labels)
  m = subset_size(config, n)
  rules = [pruning.parse(p) for p in prunes(config)]
  scores = rows = None
  record = dict(kept=m, of=n, rules=list(prunes(config)))
  if any(r.score for r in rules):
    scores = pruning.read(config.pruning.scores, config.pruning.group)
    rows = pruning.join(scores, dataset.train.index, dataset.train.labels)
    record.update(scores=scores.path, sha256=scores.sha256)
  chosen, columns = pruning.plan(rules, scores, rows, n, m, config.pruning.strata,
                                 config.pruning.hard_cutoff)
  if columns:
    record["columns"] = columns
  return chosen, record


def one_lane(config, num_classes: int, train_labels: jax.Array,
             prune_plan: pruning.Plan | None, identity: dict[str, jax.Array]) -> Lane:
  """ONE lane's constants from its identity (`identity`'s values for one
  lane): its keys, the labels it trains on (its label corruption applied to
  the clean labels, then its AUM threshold samples relabelled to the extra
  class `num_classes`, int32 [N]) and its subset (its pruning rule's choice
  from `prune_plan`, every rule's [P, ...], or subset_ratio's random one)."""
  keys = lane_keys(config.seed, identity["seed_index"],
                   config.corruption_draw == "shared")
  threshold_key = keys.pop("threshold")
  labels = corruption.corrupt_labels(keys["corruption"], train_labels, num_classes,
                                     identity["level"], config.label_corruption_kind)[0]
  n = train_labels.shape[0]
  m = subset_size(config, n)
  if pruned(config):
    rule = jax.tree.map(lambda x: x[identity["prune_code"]], prune_plan)
    subset = pruning.select(rule, keys["subset"], m)
  elif m < n:
    subset = jnp.sort(jax.random.permutation(keys["subset"], n)[:m]).astype(jnp.int32)
  else:
    subset = jnp.arange(n, dtype=jnp.int32)
  if config.scores.threshold_samples:
    chosen = jax.random.permutation(threshold_key, subset)[:num_threshold(m, num_classes)]
    labels = labels.at[chosen].set(num_classes)
  return Lane(hparams=identity["hparams"], labels=labels, subset=subset,
              input_code=identity["input_code"], keys=keys)


def num_threshold(subset_size: int, num_classes: int) -> int:
  """How many of a lane's examples become AUM threshold samples: N/(C+1), so
  that the extra class is as large as a real one (Pleiss et al. 2020)."""
  return subset_size // (num_classes + 1)


def lane_keys(seed: int, seed_index: jax.Array, shared_corruption: bool) -> dict:
  """One lane's keys, one per named stream: uint32 [2] each.

  Args:
    seed: the config's seed (static).
    seed_index: int32 [], the lane's seed index.
    shared_corruption: the corruption stream ignores the seed index, so that
      every lane gets one draw (Zhang's one fixed random labelling).
  """
  root = jax.random.PRNGKey(seed)
  lane_key = jax.random.fold_in(root, seed_index)
  out = {name: jax.random.fold_in(lane_key, c) for name, c in STREAMS.items()}
  if shared_corruption:
    out["corruption"] = jax.random.fold_in(root, STREAMS["corruption"])
  return out


def randomness(config) -> dict:
  """Describes every source of randomness, for config.json."""
  return dict(
      seed=config.seed,
      key="jax.random.PRNGKey(seed), threefry",
      lane_key="fold_in(PRNGKey(seed), seed_index)",
      streams={name: f"fold_in(lane_key, {c})" for name, c in STREAMS.items()},
      corruption_draw=config.corruption_draw,
      corruption_key=("fold_in(PRNGKey(seed), 2): one draw for all lanes"
                      if config.corruption_draw == "shared"
                      else "the lane's corruption stream"),
      order="permutation(fold_in(order_key, epoch)) per epoch",
      subset=_subset_randomness(config),
      dropout_augment="fold_in(stream_key, step) per step",
      critical=("normal(fold_in(fold_in(fold_in(critical_key, epoch), example "
                "index), iteration)): the Langevin search's noise"),
      input_corruption="fold_in(fold_in(corruption_key, split), example index)",
      threshold=("permutation(threshold_key, subset)[:subset size // (C + 1)] "
                 "relabelled C" if config.scores.threshold_samples else "none"),
      dataset=("synthetic generator seed " + str(config.synthetic.seed)
               if config.dataset == "synthetic" else "none (files in order)"),
  )


def _subset_randomness(config) -> str:
  if pruned(config):
    return ("config.prune's rule at pruning.fraction (jaxmem.datasets.pruning): "
            "random and stratified order examples by the inverse of "
            "permutation(subset_key, N) (random keeps the same examples as "
            "subset_ratio would); hardest and easiest use no randomness")
  if config.subset_ratio:
    return "sorted(permutation(subset_key)[:round(subset_ratio * N)])"
  return "none: every lane trains on all"
