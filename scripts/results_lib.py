"""What the docs/results scripts share: running sweeps, reading runs, writing pages.

Each `scripts/results_*.py` trains its sweeps (or reuses finished runs of the
same config), reads their summary.json and metrics.jsonl, and writes one page
of docs/results/ with its figures. Numbers are mean +- std over seeds (ddof 1),
with the seed count beside them.
"""

import importlib
import json
import os
import pathlib
import platform
import sys
import time

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import jaxmem  # pylint: disable=wrong-import-position
from jaxmem import config_files  # pylint: disable=wrong-import-position
from jaxmem.commands import common  # pylint: disable=wrong-import-position
from jaxmem.workdir import files  # pylint: disable=wrong-import-position

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "results"


def setup() -> None:
  """As jaxmem's command line: one CPU device per core (call before JAX
  runs), and training's progress lines on stderr."""
  common.setup_process()  # A device per core, the compile cache, quiet libraries.
  DOCS.mkdir(parents=True, exist_ok=True)


def real_data_command(data: str) -> str:
  """The running script's command line as the docs give it, with
  JAXMEM_DATA_DIR; exits with a one-line hint if it is not set (the
  benchmarks on real `data`, e.g. "USPS")."""
  if not os.environ.get("JAXMEM_DATA_DIR"):
    raise SystemExit(f"set JAXMEM_DATA_DIR ({data}), e.g. JAXMEM_DATA_DIR=../shared/data")
  script = pathlib.Path(sys.argv[0]).name
  return " ".join(["JAXMEM_DATA_DIR=../shared/data python", f"scripts/{script}",
                   *sys.argv[1:]])


def sweep_config(name: str, overrides: dict | None = None):
  """The built-in sweep NAME's config with `overrides` (a key "preprocess.crop"
  reaches into nested fields)."""
  config = importlib.import_module(f"jaxmem.sweeps.{name}").get_config()
  for key, value in (overrides or {}).items():
    *parents, leaf = key.split(".")
    target = config
    for part in parents:
      target = target[part]
    target[leaf] = value
  return config


def run(name: str, root: str, overrides: dict | None = None, data_dir=None,
        folder: str | None = None) -> pathlib.Path:
  """Trains sweep `name` into ROOT/FOLDER (default NAME), unless a finished
  run of the same config is there; resumes an unfinished one. Returns the
  workdir."""
  config = sweep_config(name, overrides)
  workdir = pathlib.Path(root) / (folder or name)
  wd = files.Workdir(str(workdir))
  if wd.status() == "done":
    held = wd.read_json("config.json")["config"]
    if not config_files.diff(held, config.to_dict()):
      print(f"{name}: reusing the finished run in {workdir}", flush=True)
      return workdir
    print(f"{name}: {workdir} holds another config; training anew", flush=True)
    jaxmem.train(config, str(workdir), data_dir, overwrite=True)
    return workdir
  print(f"{name}: training into {workdir}", flush=True)
  jaxmem.train(config, str(workdir), data_dir)
  return workdir


def timed_command(flags: list[str], workdir, env: dict | None = None) -> dict:
  """Runs `python -m jaxmem FLAGS --workdir=WORKDIR` as a user would, whole.

  Returns its wall time, summary.json's compile and training times, when its
  "compiled in N s" line came (`compiled_at`, from launch) and N
  (`first_compile`: the epoch program's; summary.json's compile_s also counts
  programs compiled later).
  """
  import re  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  command = [sys.executable, "-m", "jaxmem", *flags, f"--workdir={workdir}"]
  start = time.perf_counter()
  compiled_at = first_compile = None
  tail = []
  with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                        text=True, env=env) as proc:
    for line in proc.stderr:
      tail = (tail + [line])[-40:]
      found = re.search(r"compiled in ([0-9.]+) s", line)
      if compiled_at is None and found:
        compiled_at, first_compile = time.perf_counter() - start, float(found.group(1))
  wall = time.perf_counter() - start
  if proc.returncode:
    raise SystemExit(f"{' '.join(command)} failed:\n{''.join(tail)[-3000:]}")
  held = summary(workdir)
  return dict(wall_s=wall, train_s=held["train_s"], compile_s=held["compile_s"],
              compiled_at=compiled_at, first_compile=first_compile)


def summary(workdir) -> dict:
  return json.loads((pathlib.Path(workdir) / "summary.json").read_text())


def training_seconds(workdirs) -> float:
  """Compiling plus training, summed over finished runs (from their own
  summaries, so reused runs count what they took when they were trained)."""
  return sum(s["compile_s"] + s["train_s"] for s in map(summary, workdirs))


def pm(stats: dict, scale: float = 100.0, digits: int = 2, error: bool = False) -> str:
  """'mean +- std' of a summary statistic; `error` turns an accuracy into an error."""
  if stats is None or stats.get("mean") is None:
    return "-"
  mean = (1 - stats["mean"]) if error else stats["mean"]
  if not stats.get("std"):
    return f"{scale * mean:.{digits}f}"
  return f"{scale * mean:.{digits}f} +- {scale * stats['std']:.{digits}f}"


def values_pm(values, scale: float = 100.0, digits: int = 2) -> str:
  values = np.asarray(values, np.float64)
  values = values[np.isfinite(values)]
  if not len(values):
    return "-"
  if len(values) == 1:
    return f"{scale * values[0]:.{digits}f}"
  return f"{scale * values.mean():.{digits}f} +- {scale * values.std(ddof=1):.{digits}f}"


def machine() -> str:
  """The machine line every page carries."""
  return (f"{os.cpu_count()} CPU cores ({platform.machine()}), "
          f"{jax.default_backend()} backend, {len(jax.devices())} device(s), "
          f"jax {jax.__version__}, {time.strftime('%Y-%m-%d')}")


def hours(seconds: float) -> str:
  return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def write(page: str, text: str, entry: dict) -> pathlib.Path:
  """Writes docs/results/PAGE and its index entry, then the index.

  Args:
    page: the page's file name, e.g. "lecun1989.md".
    text: its Markdown.
    entry: the index row: title, command, seeds, time, verdict.
  """
  DOCS.mkdir(parents=True, exist_ok=True)
  path = DOCS / page
  path.write_text(text)
  (DOCS / "index").mkdir(exist_ok=True)
  (DOCS / "index" / (path.stem + ".json")).write_text(
      json.dumps(dict(entry, page=page), indent=1) + "\n")
  write_index()
  print(f"written {path}")
  return path


def write_index() -> None:
  """docs/results/README.md from every page's entry in docs/results/index/."""
  entries = [json.loads(p.read_text()) for p in sorted((DOCS / "index").glob("*.json"))]
  lines = ["# Reproductions", "",
           "Each page puts jaxmem's numbers (mean +- std over seeds, with the seed "
           "count) beside the published ones, says how long it took on which "
           "machine, and explains the differences. Each is regenerated by the "
           "command given; the sweeps are in `sweeps/`.", "",
           "| result | command | seeds | time | verdict |", "|---|---|---|---|---|"]
  lines += [f"| [{e['title']}]({e['page']}) | `{e['command']}` | {e['seeds']} | "
            f"{e['time']} | {e['verdict']} |" for e in entries]
  (DOCS / "README.md").write_text("\n".join(lines) + "\n")


_SECTION = "<!-- section {name}: written by {script}; keep this marker -->"
_END = "<!-- end of section {name} -->"


def write_section(path, name: str, script: str, text: str) -> None:
  """Puts `text` into the page at `path` as section `name`, replacing the
  section's previous text (or appending it): several scripts share one page,
  each owning its sections."""
  path = pathlib.Path(path)
  page = path.read_text() if path.exists() else ""
  begin, end = _SECTION.format(name=name, script=script), _END.format(name=name)
  block = f"{begin}\n{text.rstrip()}\n{end}\n"
  if begin in page and end in page:
    head, rest = page.split(begin, 1)
    page = head + block + rest.split(end, 1)[1].lstrip("\n")
  else:
    page = page.rstrip() + "\n\n" + block
  path.write_text(page)


def publish_section(path, name: str, script: str, lines: list[str]) -> None:
  """A benchmark's result: section `name` of the page at `path` (see
  `write_section`), also printed."""
  text = "\n".join(lines)
  write_section(path, name, script, text)
  print(text)


def sections(page: str) -> str:
  """The script-owned sections of a page's text, to carry into its next version."""
  import re  # pylint: disable=g-import-not-at-top
  found = re.findall(r"(<!-- section .*?-->\n.*?<!-- end of section .*? -->\n)", page,
                     flags=re.S)
  return "".join(f"\n{s}" for s in found)
