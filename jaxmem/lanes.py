"""Lanes: the grid x seeds of a config, expanded into per-lane values and keys.

A lane is one training run. Its random keys depend only on the config's `seed`
and the lane's seed index, never on how many lanes run beside it or in what
order: a sweep grown from 8 to 32 seeds reproduces its first 8 seeds, and lanes
of different grid points with the same seed index share their initialization,
data order and (per-seed) corruption draw, so conditions are compared paired.
"""

import dataclasses

import jax
import numpy as np

from jaxmem.datasets import corruption
from jaxmem import config as config_lib

# Named random streams, split from a lane's key by fold_in with these constants.
STREAMS = {"init": 1, "corruption": 2, "order": 3, "dropout": 4, "augment": 5,
           "subset": 6, "critical": 7}


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
  """
  axes: tuple[str, ...]
  coords: list[dict]
  point: np.ndarray
  seed_index: np.ndarray
  hparams: dict[str, np.ndarray]
  label_corruption: np.ndarray
  input_kinds: tuple[str, ...]
  input_code: np.ndarray

  def __len__(self) -> int:
    return len(self.seed_index)

  def describe(self, lane: int) -> dict:
    """Returns lane `lane`'s identity: id, seed index and grid coordinates."""
    return dict(lane=lane, seed=int(self.seed_index[lane]),
                **self.coords[lane])


def resolved(lanes: Lanes, lane: int) -> dict:
  """Returns every per-lane value of `lane`, presets expanded."""
  return dict(label_corruption=float(lanes.label_corruption[lane]),
              input_corruption=lanes.input_kinds[lanes.input_code[lane]],
              **{k: float(v[lane]) for k, v in lanes.hparams.items()})


def count(config) -> int:
  """The number of lanes, without expanding them: grid points x seeds."""
  return len(config_lib.lane_points(config)) * int(config.num_seeds)


def input_kinds(config) -> tuple[str, ...]:
  """The input corruptions the lanes use, in INPUT_KINDS order."""
  present = {p["input_corruption"] for p in config_lib.lane_points(config)}
  return tuple(k for k in corruption.INPUT_KINDS if k in present)


def expand(config) -> Lanes:
  """Expands the config's grid x seeds into lanes, grid-major, seed-minor."""
  points = config_lib.lane_points(config)
  seeds = range(config.first_seed, config.first_seed + config.num_seeds)
  rows = [(i, s) for i in range(len(points)) for s in seeds]
  lane_points = [points[i] for i, _ in rows]
  kinds = input_kinds(config)
  column = lambda key: np.asarray([p[key] for p in lane_points], np.float32)
  return Lanes(
      axes=config_lib.grid_axes(config),
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
  )


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
      subset=("sorted(permutation(subset_key)[:round(subset_ratio * N)])"
              if config.subset_ratio else "none: every lane trains on all"),
      dropout_augment="fold_in(stream_key, step) per step",
      critical=("normal(fold_in(fold_in(fold_in(critical_key, epoch), example "
                "index), iteration)): the Langevin search's noise"),
      input_corruption="fold_in(fold_in(corruption_key, split), example index)",
      dataset=("synthetic generator seed " + str(config.synthetic.seed)
               if config.dataset == "synthetic" else "none (files in order)"),
  )
