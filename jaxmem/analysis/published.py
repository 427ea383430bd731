"""The difficulty table beside published per-example scores (`jaxmem analyze --compare`).

A published score file is an npz of `labels` and `scores` in the data set's
official order (Jiang et al.'s released C-scores, for example); the table's
examples join it on their official index.
"""

import dataclasses
import zipfile

import numpy as np

from jaxmem import errors
from jaxmem.analysis import table


@dataclasses.dataclass
class Comparison:
  """The difficulty table joined with published per-example scores."""
  matched: int  # Training examples of the table found in the published file.
  names: list[str]  # The table's measures compared.
  spearman: dict[str, float]  # Measure -> Spearman with the published score.
  shuffled: dict[str, float]  # The same with scores shuffled within each class.
  label_agreement: float  # Fraction of matched examples whose labels agree.


def compare(cols: dict[str, np.ndarray], path, seed: int = 0) -> Comparison:
  """Joins the table with published scores (an npz of `labels` and `scores`
  in the data set's official order) on the examples' official index.

  Spearman correlations of every measure with the published score are signed
  as they come (a C-score is an easiness; forgetting a hardness, so expect
  negative values there). The control shuffles the published scores within
  each class: what survives it is more than "this class is hard".

  Raises:
    UserError: the file is unreadable, lacks `labels` or `scores`, the
      indices fall outside it, or the labels disagree (another data set or
      another order).
  """
  try:
    with np.load(path) as f:
      labels, scores = np.asarray(f["labels"]), np.asarray(f["scores"], np.float64)
  except FileNotFoundError:
    raise errors.UserError(f"--compare={path}: no such file") from None
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise errors.UserError(f"--compare={path}: needs an npz with `labels` and "
                           f"`scores` in official order ({errors.cause(e)})") from None
  index = np.asarray(cols["index"], np.int64)
  if index.min() < 0 or index.max() >= len(labels):
    raise errors.UserError(
        f"--compare={path} holds {len(labels)} examples, but the table's indices "
        f"reach {index.max()}: another data set?")
  agree = float(np.mean(labels[index] == cols["clean_label"]))
  if agree < 0.99:
    raise errors.UserError(
        f"--compare={path}: its labels agree with the table's on {100 * agree:.1f}% "
        "of the examples: another data set, or another example order")
  published = scores[index]
  rng = np.random.default_rng(seed)
  shuffled = published.copy()
  for c in np.unique(cols["clean_label"]):
    members = np.flatnonzero(cols["clean_label"] == c)
    shuffled[members] = published[rng.permutation(members)]
  names = [n for n in table.hardness(cols) if np.isfinite(cols[n]).sum() >= 3
           and np.nanstd(cols[n]) > 0]
  return Comparison(
      matched=len(index), names=names, label_agreement=agree,
      spearman={n: table.spearman(cols[n], published) for n in names},
      shuffled={n: table.spearman(cols[n], shuffled) for n in names})


def comparison_table(result: Comparison) -> str:
  """The comparison as a Markdown table."""
  lines = ["| measure | Spearman with the published score | within-class shuffled |",
           "|---|---|---|"]
  lines += [f"| {n} | {result.spearman[n]:+.3f} | {result.shuffled[n]:+.3f} |"
            for n in result.names]
  return "\n".join(lines)
