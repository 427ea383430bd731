"""Workdir formats: which jaxmem wrote a workdir, and what this one can do with it.

Researchers upgrade in the middle of week-long sweeps, so every format a
released jaxmem wrote is recognised here, never taken for someone else's
files. One this jaxmem can read resumes (its checkpoints' arrays renamed to
today's names); one it cannot says in one line which version wrote it and how
to finish the run with that version.

  format 1  jaxmem 0.1.0 (to 2026-11-30, e.g. commit 0ace575): no jaxmem.json
            marker; checkpoints hold the per-epoch history. Not resumable.
  format 2  jaxmem 0.2.0 (2026-12-01 to 12-02, commit 18c73d0): the marker
            names version 0.2.0; checkpoints hold `state/records` and `lane`,
            today's `state/accumulators` and `constants`.
  format 3  jaxmem 0.3.0: the marker and config.json name the format.
"""

import dataclasses
import json

from jaxmem import version
from jaxmem.workdir import files
from jaxmem.workdir import ownership

FORMAT = 3


@dataclasses.dataclass(frozen=True)
class Format:
  """What a workdir format is and how this jaxmem treats it."""
  number: int
  version: str  # The jaxmem that wrote it.
  # Checkpoint array paths as it saved them -> today's (prefixes of the path).
  renames: dict[tuple[str, ...], tuple[str, ...]]
  resumable: bool
  finish_with: str  # How to install the jaxmem that can finish its runs.


FORMATS = {
    1: Format(1, "0.1.0", {}, False,
              "git checkout 0ace575 && pip install . (jaxmem 0.1.0)"),
    2: Format(2, "0.2.0", {("state", "records"): ("state", "accumulators"),
                           ("lane",): ("constants",)}, True,
              "git checkout 18c73d0 && pip install . (jaxmem 0.2.0)"),
    FORMAT: Format(FORMAT, version.__version__, {}, True,
                   f"pip install jaxmem=={version.__version__}"),
}
# config.json's top-level keys since format 1, by which an unmarked folder is
# known as jaxmem's.
_CONFIG_KEYS = {"config", "lanes", "randomness", "dataset", "execution", "versions"}


def of_marker(marker: dict) -> Format:
  """The format of a workdir whose marker reads `marker`."""
  number = marker.get("workdir_format")
  if number is None:  # Markers before format 3 named only the version.
    number = 2
  return FORMATS.get(number) or Format(
      number, str(marker.get("jaxmem_version")), {}, False,
      f"pip install jaxmem=={marker.get('jaxmem_version')}")


def unmarked(path) -> Format | None:
  """Format 1 if the folder (without a marker) holds only what jaxmem 0.1.0
  wrote, with its config.json; None otherwise (someone else's files)."""
  own = set(files.FILES) | set(files.FOLDERS) | set(files.DERIVED) | {ownership.LOCK}
  names = {p.name for p in path.iterdir()}
  if "config.json" not in names or not names <= own:
    return None
  try:
    described = json.loads((path / "config.json").read_text())
  except (OSError, ValueError):
    return None
  if not isinstance(described, dict) or not _CONFIG_KEYS <= described.keys():
    return None
  return FORMATS[1]


def of(wd: files.Workdir) -> Format:
  """The format of a workdir that jaxmem wrote (today's if it says nothing)."""
  marker = ownership.read_marker(wd.path)
  if marker is not None:
    return of_marker(marker)
  return unmarked(wd.path) or FORMATS[FORMAT]


def cannot_resume(path, written: Format) -> str:
  """The one line for a run this jaxmem cannot finish."""
  return (f"--workdir {path} holds an unfinished run written by jaxmem "
          f"{written.version} (workdir format {written.number}), which jaxmem "
          f"{version.__version__} cannot resume; finish it with that version "
          f"({written.finish_with}), or choose another --workdir")
