"""The one exception type that reaches the user as a one-line message.

Anything a user can get wrong (a flag, a config value, a missing data file) raises
`UserError` before any compilation; the commands print its message on one line
and exits with status 2. Every other exception is a bug and keeps its traceback.
"""

from collections.abc import Iterable
import math


class UserError(ValueError):
  """Bad input from the user: the message says what is wrong and what is valid."""


def check_choice(what: str, value, valid: Iterable) -> None:
  """Raises `UserError` unless `value` is one of `valid`, naming the valid choices.

  Args:
    what: what the value is, e.g. "model" or "config.optimizer".
    value: the value given.
    valid: the accepted values.
  """
  valid = list(valid)
  if value not in valid:
    raise UserError(
        f"unknown {what} {value!r}; valid choices: {', '.join(map(str, valid))}")


def is_real(x) -> bool:
  """A finite int or float (not a bool, NaN or infinity): what a numeric
  config value must be before its range is checked."""
  return (isinstance(x, (int, float)) and not isinstance(x, bool)
          and math.isfinite(x))


def cause(error: BaseException) -> str:
  """An OS or library error's cause on one line: 'No space left on device'."""
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  return " ".join(str(error).split())[:300] or type(error).__name__


def filesystem(error: OSError, doing: str) -> UserError:
  """A one-line UserError for an OS error on a workdir or data path.

  Args:
    error: the OSError (its filename and strerror are used).
    doing: what failed, e.g. "cannot write".
  """
  where = f" {error.filename}" if error.filename else ""
  return UserError(f"{doing}{where}: {cause(error)}")
