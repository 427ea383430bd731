"""Do two workdirs hold the same results? For refactors and upgrades.

  python scripts/same_results.py runs/before runs/after
  python scripts/same_results.py --pairs before/ after/   # every workdir under both

Compares what a run computed, never how long it took:
  * metrics.jsonl, row for row, without the wall-clock field `elapsed_s`;
  * examples.npz, every array: the same names, dtypes, shapes and values;
  * summary.json without its wall-clock fields.
config.json is not compared (it records versions, devices and the format);
its `config` part is reported where the keys differ, as information.

Needs only numpy, so it compares workdirs written by any jaxmem version.
Prints one line per workdir pair and a verdict; exit status 0 when every pair
is identical, 1 otherwise, 2 for bad arguments.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

TIMING = ("elapsed_s", "compile_s", "train_s", "checkpoint_s", "lane_examples_per_s")


def _strip(obj):
  if isinstance(obj, dict):
    return {k: _strip(v) for k, v in obj.items() if k not in TIMING}
  if isinstance(obj, list):
    return [_strip(v) for v in obj]
  return obj


def _rows(path: pathlib.Path) -> list[dict]:
  return [_strip(json.loads(line)) for line in path.read_text().splitlines()
          if line.strip()]


def _flat(tree: dict, prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[prefix + key] = value
  return out


def compare(a: pathlib.Path, b: pathlib.Path) -> list[str]:
  """The differences between workdirs a and b, as lines (none: identical)."""
  problems = []
  for name in ("metrics.jsonl", "examples.npz", "summary.json"):
    missing = [str(p) for p in (a / name, b / name) if not p.exists()]
    if missing:
      problems.append(f"missing: {', '.join(missing)}")
  if problems:
    return problems
  ra, rb = _rows(a / "metrics.jsonl"), _rows(b / "metrics.jsonl")
  if len(ra) != len(rb):
    problems.append(f"metrics.jsonl: {len(ra)} rows against {len(rb)}")
  for i, (x, y) in enumerate(zip(ra, rb)):
    if x != y:
      keys = sorted(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))
      problems.append(f"metrics.jsonl row {i + 1} differs in {', '.join(keys)}")
      break
  with np.load(a / "examples.npz") as fa, np.load(b / "examples.npz") as fb:
    if set(fa.files) != set(fb.files):
      problems.append(f"examples.npz: arrays only in one: "
                      f"{sorted(set(fa.files) ^ set(fb.files))}")
    for key in sorted(set(fa.files) & set(fb.files)):
      x, y = fa[key], fb[key]
      if x.dtype != y.dtype or x.shape != y.shape:
        problems.append(f"examples.npz {key}: {x.dtype}{x.shape} against "
                        f"{y.dtype}{y.shape}")
      elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
        problems.append(f"examples.npz {key}: values differ")
  sa = _strip(json.loads((a / "summary.json").read_text()))
  sb = _strip(json.loads((b / "summary.json").read_text()))
  if sa != sb:
    problems.append("summary.json differs")
  return problems


def config_note(a: pathlib.Path, b: pathlib.Path) -> str:
  try:
    ca = _flat(json.loads((a / "config.json").read_text())["config"])
    cb = _flat(json.loads((b / "config.json").read_text())["config"])
  except (OSError, ValueError, KeyError):
    return ""
  keys = sorted(k for k in ca.keys() | cb.keys() if ca.get(k) != cb.get(k))
  return f" (config keys that differ: {', '.join(keys)})" if keys else ""


def _pairs(a: pathlib.Path, b: pathlib.Path, many: bool):
  if not many:
    return [(a, b)]
  found = sorted(p.parent.relative_to(a) for p in a.rglob("metrics.jsonl"))
  return [(a / rel, b / rel) for rel in found]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("a", type=pathlib.Path)
  parser.add_argument("b", type=pathlib.Path)
  parser.add_argument("--pairs", action="store_true",
                      help="compare every workdir under a with the same path under b")
  args = parser.parse_args(argv)
  for path in (args.a, args.b):
    if not path.is_dir():
      print(f"same_results: error: {path} is not a folder", file=sys.stderr)
      return 2
  pairs = _pairs(args.a, args.b, args.pairs)
  if not pairs:
    print(f"same_results: error: no workdir (metrics.jsonl) under {args.a}",
          file=sys.stderr)
    return 2
  differ = 0
  for a, b in pairs:
    problems = compare(a, b)
    differ += bool(problems)
    verdict = "identical" if not problems else "DIFFERENT: " + "; ".join(problems)
    print(f"{a} vs {b}: {verdict}{config_note(a, b)}")
  print(f"{len(pairs) - differ} of {len(pairs)} identical")
  return 1 if differ else 0


if __name__ == "__main__":
  sys.exit(main())
