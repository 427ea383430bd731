"""`python -m jaxmem.report` (or `jaxmem report`): Markdown and PNGs of finished runs.

  python -m jaxmem.report --workdir=runs/quickstart                     # runs/quickstart/report/
  python -m jaxmem.report --workdir=runs/a --workdir=runs/b --out=reports/ab
  python -m jaxmem.report --workdir=runs/zhang_corruption_usps --fit_threshold=0.9

This module owns the command's flags (jaxmem.analyze's, plus --fit_threshold);
the work is jaxmem.reporting's.
"""

from absl import flags

from jaxmem.commands import analyze
from jaxmem.commands import common
from jaxmem import errors

_FIT_THRESHOLD = flags.DEFINE_float(
    "fit_threshold", 1.0, "Training accuracy that counts as fitted, for time to "
    "fit; in (0, 1].")

VALID = [v for v in analyze.VALID if v != "--compare"] + ["--fit_threshold"]


def main(argv: list[str]) -> None:
  args = analyze.analysis_args(argv, "a report")
  if flags.FLAGS.compare:
    common.fail("--compare is a flag of jaxmem analyze, not of jaxmem report")
  from jaxmem import report  # pylint: disable=g-import-not-at-top
  try:
    path = report.write(flags.FLAGS.workdir, threshold=_FIT_THRESHOLD.value, **args)
  except errors.UserError as e:
    common.fail(e)
  except OSError as e:
    common.fail(errors.filesystem(e, "cannot write"))
  print(f"report written to {path}")


def run() -> None:
  """Entry point."""
  common.run(main, lambda a: common.parse(a, "jaxmem.report", VALID))


if __name__ == "__main__":
  run()
