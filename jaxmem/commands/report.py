"""`jaxmem report`: Markdown and PNGs of finished runs.

  jaxmem report --workdir=runs/quickstart                     # runs/quickstart/report/
  jaxmem report --workdir=runs/a --workdir=runs/b --out=reports/ab
  jaxmem report --workdir=runs/zhang_corruption_usps --fit_threshold=0.9

This module owns the command's flags (`jaxmem analyze`'s but --compare, plus
--fit_threshold); the work is jaxmem.report's.
"""

from absl import flags

from jaxmem import errors
from jaxmem.commands import analyze
from jaxmem.commands import common

_FIT_THRESHOLD = flags.DEFINE_float(
    "fit_threshold", 1.0, "Training accuracy that counts as fitted, for time to "
    "fit; in (0, 1].")


def valid() -> list[str]:
  return [f for f in common.own_flags(analyze.__name__) if f != "--compare"] + \
      common.own_flags(__name__)


def main(argv: list[str]) -> None:
  args = analyze.analysis_args(argv, "a report")
  if flags.FLAGS.compare:
    common.fail("--compare is a flag of jaxmem analyze, not of jaxmem report")
  from jaxmem import report  # pylint: disable=g-import-not-at-top
  try:
    path = report.write(flags.FLAGS.workdir, threshold=_FIT_THRESHOLD.value, **args)
  except errors.UserError as e:
    common.fail(e)
  print(f"report written to {path}")


def run() -> None:
  """Entry point."""
  common.run(main, lambda a: common.parse(a, "jaxmem report", valid()))


if __name__ == "__main__":
  run()
