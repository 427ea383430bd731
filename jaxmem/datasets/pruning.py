"""Data pruning: the training examples a lane keeps, chosen by a score.

A pruned lane trains on m = round(fraction x N) of the N training examples
(`config.pruning.fraction`), chosen by its rule (`config.prune`, a grid axis,
so rules x seeds are the lanes of one program):
  random          m examples uniformly at random, from the lane's subset key:
                  the same draw as config.subset_ratio's random subsets;
  hardest:S       the m hardest by score S (what Toneva et al. 2019 and Paul et
                  al. 2021 keep: they prune the easiest);
  easiest:S       the m easiest by S;
  stratified:S    coverage-centric coreset selection (Zheng et al. 2023, CCS):
                  drop the hardest `hard_cutoff` fraction, cut the remaining
                  scores' range into `strata` strata of equal width, give the
                  strata budgets from the smallest up (each its size or an
                  equal share of what is left, whichever is less), and draw
                  each stratum's budget uniformly from the lane's subset key.
Ties keep the lower position first. The scores come from a file in the data
set's official ids (`config.pruning.scores`): a jaxmem difficulty table (CSV
or Parquet with an `index` column), or an npz of score arrays with optional
`index` (else positions are the ids) and `labels`. A lane's subset depends
only on its rule, the fraction, the score file and its seed index.

Hardness: a score that grows with difficulty ranks as it is, one that shrinks
(AUM, C-score, confidence) negated (`HARDNESS`); a score of unknown direction
is named with its sign, `+S` (higher is harder) or `-S` (lower is harder).
"""

import dataclasses
import functools
import hashlib
import os
import pathlib

from flax import struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxmem import errors

RULES = ("random", "hardest", "easiest", "stratified")
# Difficulty-table columns that grow with difficulty (1) or shrink (-1): how
# pruning ranks by them and how the table signs its rank correlations.
HARDNESS = {"forgetting_mean": 1, "first_learned_mean": 1, "first_correct_mean": 1,
            "settled_mean": 1, "cumulative_acc_mean": -1, "error_epoch1": 1,
            "final_error": 1, "depth_mean": 1, "critical_frac": 1, "cscore": -1,
            "memorization": 1, "memorization_prob": 1, "aum_mean": -1,
            "confidence_mean": -1, "correctness_mean": -1, "loss_mean": 1,
            "entropy_mean": 1}
# Scores recorded at chosen epochs (el2n_e{E}_mean...) grow with difficulty.
HARDNESS_PREFIXES = ("el2n_e", "grand_e")
_NOT_SCORES = ("index", "labels", "label", "clean_label", "trained_label", "group")


def sign_of(column: str) -> int | None:
  """The direction of a difficulty-table column: 1, -1, or None (unknown)."""
  if column in HARDNESS:
    return HARDNESS[column]
  if column.startswith(HARDNESS_PREFIXES) and column.endswith("_mean"):
    return 1
  return None


@dataclasses.dataclass(frozen=True)
class Rule:
  """One value of config.prune: the rule, its score's name and its sign
  (+1 or -1 written by the user, 0 not written)."""
  rule: str
  score: str = ""
  sign: int = 0


def parse(spec: str) -> Rule:
  """Reads one config.prune value ("random", "hardest:el2n", "easiest:-scores")."""
  rule, _, score = str(spec).partition(":")
  valid = "random, hardest:S, easiest:S or stratified:S (S a score column)"
  if rule not in RULES:
    raise errors.UserError(f"unknown pruning rule {spec!r}; valid choices: {valid}")
  if rule == "random":
    if score:
      raise errors.UserError(f"pruning rule {spec!r}: random takes no score; "
                             f"valid choices: {valid}")
    return Rule("random")
  sign = {"+": 1, "-": -1}.get(score[:1], 0)
  score = score[1:] if sign else score
  if not score:
    raise errors.UserError(f"pruning rule {spec!r} names no score; valid choices: {valid}")
  return Rule(rule, score, sign)


def check(config) -> None:
  """Validates config.prune (and its grid values) and config.pruning, and that
  the score file has every rule's score in a known direction, before any
  data is loaded (whether its ids join the data set's is `join`'s).

  Raises:
    UserError: the first invalid value, naming what is valid.
  """
  for spec in (config.prune, *config.grid.prune):
    if spec != "none":
      parse(spec)
  specs = list(dict.fromkeys(config.grid.prune or (config.prune,)))  # The lanes' own.
  rules = [parse(s) for s in specs if s != "none"]
  p = config.pruning
  if not errors.is_real(p.fraction) or not 0.0 < p.fraction <= 1.0:
    raise errors.UserError(f"config.pruning.fraction must be in (0, 1], got {p.fraction!r}")
  if not isinstance(p.strata, int) or isinstance(p.strata, bool) or p.strata < 1:
    raise errors.UserError(f"config.pruning.strata must be an integer >= 1, got {p.strata!r}")
  if not errors.is_real(p.hard_cutoff) or not 0.0 <= p.hard_cutoff < 1.0:
    raise errors.UserError(
        f"config.pruning.hard_cutoff must be in [0, 1), got {p.hard_cutoff!r}")
  if not rules:
    if p.fraction != 1.0:
      raise errors.UserError(
          f"config.pruning.fraction {p.fraction} needs a pruning rule: set "
          "config.prune or config.grid.prune (random, hardest:S, easiest:S, stratified:S)")
    return
  if len(rules) != len(specs):
    raise errors.UserError(
        "config.grid.prune mixes 'none' with pruning rules, but a run's lanes train "
        "on subsets of one size; valid: rules only ('random' is the baseline at the "
        "same size)")
  if config.subset_ratio:
    raise errors.UserError(
        f"config.subset_ratio {config.subset_ratio} and pruning both choose the "
        "training subset; valid: one of them (subset_ratio=0, or prune='none')")
  if any(r.score for r in rules):
    if not p.scores:
      raise errors.UserError(
          f"pruning rule {next(s for s in specs if ':' in s)!r} needs a score "
          "file: config.pruning.scores (a difficulty table or an .npz)")
    scores = read(p.scores, p.group)
    for r in rules:
      if r.score:
        scores.column(r)


@dataclasses.dataclass(frozen=True)
class ScoreFile:
  """A score file, read: official ids, labels (or None), score columns."""
  path: str
  sha256: str
  index: np.ndarray  # int64 [K]
  labels: np.ndarray | None  # int [K]
  columns: dict[str, np.ndarray]  # name -> float64 [K]

  def column(self, rule: Rule) -> tuple[str, np.ndarray]:
    """The hardness of every row for `rule`: (column name, float64 [K])."""
    by_epoch = sorted(c for c in self.columns
                      if c.startswith(f"{rule.score}_e") and c.endswith("_mean"))
    found = ([rule.score] if rule.score in self.columns else
             [f"{rule.score}_mean"] if f"{rule.score}_mean" in self.columns else by_epoch)
    if len(found) != 1:
      raise errors.UserError(
          f"pruning rule {rule.rule}:{rule.score}: {self.path} has "
          f"{'several such columns' if found else 'no such score'}; valid "
          f"choices: {', '.join(found or self.columns)}")
    name, known = found[0], sign_of(found[0])
    if known is None and not rule.sign:
      raise errors.UserError(
          f"pruning rule {rule.rule}:{rule.score}: whether a higher {name!r} is harder "
          f"is not known; write {rule.rule}:+{rule.score} (higher is harder) or "
          f"{rule.rule}:-{rule.score} (lower is harder)")
    if known is not None and rule.sign and rule.sign != known:
      raise errors.UserError(
          f"pruning rule {rule.rule}:{'+' if rule.sign > 0 else '-'}{rule.score}: "
          f"{name} is {'higher' if known > 0 else 'lower'} for harder examples; "
          f"valid: {rule.rule}:{rule.score}")
    return name, (known or rule.sign) * self.columns[name]


def read(path: str, group: str = "") -> ScoreFile:
  """Reads a score file (CSV, Parquet or npz), one group of a difficulty table;
  once per process while the file is unchanged (validation and the run's
  build both read it).

  Raises:
    UserError: unreadable, no ids, several groups and none chosen, or an
      unknown group.
  """
  try:
    stat = os.stat(path)
  except OSError:
    return _read(str(path), group)  # Its one-line error.
  return _read_unchanged(str(path), group, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_unchanged(path: str, group: str, size: int, mtime_ns: int) -> ScoreFile:
  del size, mtime_ns  # The cache's key: the file as it is now.
  return _read(path, group)


def _read(path: str, group: str) -> ScoreFile:
  where = f"config.pruning.scores {path}"
  try:
    raw = pathlib.Path(path).read_bytes()
  except OSError as e:
    raise errors.UserError(f"{where}: {errors.cause(e)}") from None
  suffix = pathlib.Path(path).suffix.lower()
  valid = "valid: a difficulty table (.csv, .parquet) or an .npz of scores"
  try:
    if suffix == ".npz":
      with np.load(path, allow_pickle=False) as f:
        table = {k: np.asarray(f[k]) for k in f.files}
      if "index" not in table:
        size = {len(v) for v in table.values() if v.ndim == 1}
        table["index"] = np.arange(max(size) if size else 0)
    elif suffix in (".csv", ".parquet"):
      import pandas as pd  # pylint: disable=g-import-not-at-top
      frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
      table = {str(c): frame[c].to_numpy() for c in frame.columns}
    else:
      raise errors.UserError(f"{where}: unknown format {suffix or '(none)'}; {valid}")
  except errors.UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise errors.UserError(f"{where}: cannot read it ({errors.cause(e)}); {valid}") from None
  if "index" not in table:
    raise errors.UserError(f"{where} has no `index` column (the examples' official ids)")
  if "group" in table:
    groups = list(dict.fromkeys(str(g) for g in table["group"]))
    if not group and len(groups) > 1:
      raise errors.UserError(f"{where} holds {len(groups)} groups of lanes; choose "
                             f"one with config.pruning.group; valid choices: "
                             f"{', '.join(groups)}")
    if group:
      errors.check_choice(f"group of {path}", group, groups)
      keep = np.asarray([str(g) == group for g in table["group"]])
      table = {k: v[keep] for k, v in table.items()}
  elif group:
    raise errors.UserError(f"{where} has no `group` column; valid: config.pruning.group=''")
  index = np.asarray(table["index"])
  if index.ndim != 1 or index.dtype.kind not in "iu":
    raise errors.UserError(f"{where}: `index` must be integers [K], got {index.dtype} {index.shape}")
  labels = next((np.asarray(table[k]) for k in ("clean_label", "labels", "label")
                 if k in table), None)
  columns = {k: np.asarray(v, np.float64) for k, v in table.items()
             if k not in _NOT_SCORES and v.shape == index.shape and v.dtype.kind in "iufb"}
  return ScoreFile(str(path), hashlib.sha256(raw).hexdigest(), index.astype(np.int64),
                   labels, columns)


def join(scores: ScoreFile, train_index: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
  """The row of `scores` of every training example: int [N].

  Raises:
    UserError: ids missing from the file or repeated in it, or labels that
      disagree (another data set, or another order).
  """
  where = f"config.pruning.scores {scores.path}"
  order = np.argsort(scores.index, kind="stable")
  ids = scores.index[order]
  if (np.diff(ids) == 0).any():
    raise errors.UserError(f"{where}: id {ids[:-1][np.diff(ids) == 0][0]} appears twice")
  at = np.clip(np.searchsorted(ids, train_index), 0, len(ids) - 1)
  missing = ids[at] != train_index if len(ids) else np.ones(len(train_index), bool)
  if missing.any():
    raise errors.UserError(
        f"{where}: {int(missing.sum())} of the {len(train_index)} training examples' "
        f"ids are not in it (e.g. id {int(train_index[missing][0])}; it holds "
        f"{len(ids)} ids{f', {ids[0]}..{ids[-1]}' if len(ids) else ''}): another data "
        "set, or config.train_size?")
  rows = order[at]
  if scores.labels is not None:
    agree = float(np.mean(scores.labels[rows] == train_labels))
    if agree < 0.99:
      raise errors.UserError(
          f"{where}: its labels agree with the training set's on {100 * agree:.1f}% "
          "of the examples: another data set, or another example order")
  return rows


class Plan(struct.PyTreeNode):
  """How each rule of a run chooses, as arrays with a leading rule axis [P].

  Every rule keeps, in each stratum s, the `budget[s]` examples of lowest
  priority: `rank`, or where `random` a uniform order from the lane's key.
  """
  stratum: jax.Array  # int32 [P, N]: the example's stratum; -1 is never kept
  rank: jax.Array  # int32 [P, N]: the example's priority in its stratum
  budget: jax.Array  # int32 [P, K]: the examples kept from each stratum
  random: jax.Array  # bool [P]: priorities drawn from the lane's subset key


def choose(rule: str, hardness: np.ndarray | None, n: int, m: int, strata: int,
           hard_cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
  """One rule's (stratum int32 [N], rank int32 [N], budget int32 [K], random).

  Args:
    rule: one of RULES.
    hardness: float64 [N], higher is harder; None for random.
    n: how many examples there are.
    m: how many of them to keep.
    strata: the stratified rule's number of strata (K for every rule).
    hard_cutoff: the stratified rule's hardest fraction dropped first.
  """
  stratum, rank = np.zeros(n, np.int32), np.zeros(n, np.int32)
  budget = np.zeros(strata, np.int32)
  if rule in ("random", "hardest", "easiest"):
    budget[0] = m
    if rule != "random":
      key = -hardness if rule == "hardest" else hardness
      rank[np.argsort(key, kind="stable")] = np.arange(n)
    return stratum, rank, budget, rule == "random"
  dropped = int(round(hard_cutoff * n))
  if n - dropped < m:
    raise errors.UserError(
        f"config.pruning.hard_cutoff {hard_cutoff} leaves {n - dropped} examples, "
        f"fewer than the {m} to keep; valid: 0..{(n - m) / n:.4f}")
  hardest_first = np.argsort(-hardness, kind="stable")
  stratum[hardest_first[:dropped]] = -1
  kept = hardest_first[dropped:]
  low, high = hardness[kept].min(), hardness[kept].max()
  width = (high - low) / strata
  bins = (np.zeros(len(kept), np.int64) if width == 0 else
          np.minimum(((hardness[kept] - low) / width).astype(np.int64), strata - 1))
  stratum[kept] = bins
  sizes = np.bincount(bins, minlength=strata)
  left = m
  for position, s in enumerate(np.argsort(sizes, kind="stable")):
    budget[s] = min(sizes[s], left // (strata - position))
    left -= budget[s]
  assert budget.sum() == m, (budget, m)
  return stratum, rank, budget, True


def plan(rules: list[Rule], scores: ScoreFile | None, rows: np.ndarray | None, n: int,
         m: int, strata: int, hard_cutoff: float) -> tuple[Plan, dict[str, str]]:
  """Every rule's choice, stacked (host arrays), and the column each scored
  rule ranked by ({"hardest:el2n": "el2n_e2_mean", ...})."""
  chosen, columns = [], {}
  for r in rules:
    hardness = None
    if r.score:
      name, values = scores.column(r)
      columns[f"{r.rule}:{r.score}"], hardness = name, values[rows]
    chosen.append(choose(r.rule, hardness, n, m, strata, hard_cutoff))
  stratum, rank, budget, random = (np.stack(x) for x in zip(*chosen))
  return Plan(stratum=stratum, rank=rank, budget=budget, random=random), columns


def select(plan: Plan, key: jax.Array, m: int) -> jax.Array:
  """ONE lane's subset under ONE rule (`plan` indexed at the lane's rule):
  int32 [m], sorted positions of the kept training examples."""
  n, k = plan.stratum.shape[0], plan.budget.shape[0]
  drawn = jnp.zeros(n, jnp.int32).at[jax.random.permutation(key, n)].set(
      jnp.arange(n, dtype=jnp.int32))
  priority = jnp.where(plan.random, drawn, plan.rank)
  stratum = jnp.where(plan.stratum < 0, k, plan.stratum)
  iota = jnp.arange(n, dtype=jnp.int32)
  by_stratum, _, order = jax.lax.sort((stratum, priority, iota), num_keys=2)
  counts = jnp.bincount(stratum, length=k + 1)
  start = jnp.cumsum(counts) - counts
  limit = jnp.concatenate([plan.budget, jnp.zeros(1, plan.budget.dtype)])
  keep = jnp.zeros(n, bool).at[order].set(iota - start[by_stratum] < limit[by_stratum])
  return jnp.nonzero(keep, size=m)[0].astype(jnp.int32)
