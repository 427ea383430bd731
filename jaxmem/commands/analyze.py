"""`jaxmem analyze`: the difficulty table of finished runs.

  jaxmem analyze --workdir=runs/a                   # runs/a/analysis/
  jaxmem analyze --workdir=runs/a --workdir=runs/b --out=analysis/ab

This module owns the command's flags and nothing else; the work is
jaxmem.analysis's. Bad flags end with one line and exit status 2 before any
work.
"""

from absl import flags

from jaxmem import errors
from jaxmem.commands import common

_WORKDIR = flags.DEFINE_multi_string(
    "workdir", None, "A finished run's folder; several are pooled (they must "
    "share a training set).")
_OUT = flags.DEFINE_string(
    "out", None, "Folder for the table and every cache (needed for several "
    "workdirs); default <workdir>/analysis. With it, nothing is written in a workdir.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Data folder; default $JAXMEM_DATA_DIR, else ~/.cache/jaxmem.")
_KNN_K = flags.DEFINE_integer(
    "knn_k", 30, "Neighbours of the prediction-depth probes (Baldock et al.: 30).")
_CRITICAL_EXAMPLES = flags.DEFINE_integer(
    "critical_examples", None, "Training examples searched for critical samples "
    "at the end; default the run's config.critical.examples; 0 skips the search.")

_COMPARE = flags.DEFINE_string(
    "compare", None, "An npz of published per-example scores (`labels`, `scores`) "
    "in the data set's official order, e.g. the released C-scores: joins the "
    "table with them and writes Spearman correlations, with a within-class "
    "shuffled control (comparison.json).")

_POOL_ALL = flags.DEFINE_bool(
    "pool_all", False, "Pool every lane into one table, whatever labels and "
    "inputs it trained on (default: one table per group of lanes trained on the "
    "same labels distribution and inputs, since an example's difficulty belongs "
    "to one distribution).")


def analysis_args(argv: list[str], what: str) -> dict:
  """The analysis flags, shared by `jaxmem report`."""
  common.no_arguments(argv)
  if not _WORKDIR.value:
    common.fail(f"{what} needs --workdir=W (one or more)")
  return dict(out=_OUT.value, data_dir=_DATA_DIR.value, k=_KNN_K.value,
              critical_examples=_CRITICAL_EXAMPLES.value, pool_all=_POOL_ALL.value)


def main(argv: list[str]) -> None:
  args = analysis_args(argv, "an analysis")
  # pylint: disable=g-import-not-at-top
  from jaxmem.analysis import detection
  from jaxmem.analysis import difficulty
  from jaxmem.analysis import published
  from jaxmem.analysis import table
  try:
    result = difficulty.analyze(_WORKDIR.value, compare_with=_COMPARE.value, **args)
  except errors.UserError as e:
    common.fail(e)
  for group in result.groups:
    print(f"## {group.name}\n\nSpearman rank correlations between hardness measures "
          f"(larger = harder):\n{table.correlation_table(group.names, group.correlations)}\n")
    if group.detection is not None:
      print("Finding the corrupted labels (AUROC, average precision):\n"
            f"{detection.markdown(group.detection)}\n")
    if group.comparison is not None:
      print(f"against {_COMPARE.value} ({group.comparison.matched} examples, labels "
            f"agreeing on {100 * group.comparison.label_agreement:.1f}%):\n"
            f"{published.comparison_table(group.comparison)}\n")
  print(f"{len(result.groups)} group(s) of lanes: {', '.join(g.name for g in result.groups)}"
        f"\ndifficulty table, correlations and detection written to {result.folder}/")


def run() -> None:
  """Entry point."""
  common.run(main, lambda a: common.parse(a, "jaxmem analyze", common.own_flags(__name__)))


if __name__ == "__main__":
  run()
