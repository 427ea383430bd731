"""The package's architecture, held by tests: the map, the layers, no circles,
what each folder asks of a new file, and what setup.cfg installs."""

import ast
import configparser
import pathlib
import re

import jaxmem

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxmem"

# The layers, lowest first: a module may import its own layer or those below.
LAYERS = ["version", "errors", "optim", "runtime", "datasets", "models", "config",
          "config_files",
          "execution", "lanes", "steps", "measures", "epoch", "workdir", "run",
          "trainer", "analysis", "results", "report", "api", "sweeps", "commands",
          "main"]


def _modules() -> dict[str, pathlib.Path]:
  """Every module of the package and of the built-in sweeps, by dotted name."""
  found = {}
  for path in sorted(PACKAGE.rglob("*.py")):
    parts = path.relative_to(ROOT).with_suffix("").parts
    found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
  for path in sorted((ROOT / "sweeps").glob("*.py")):
    name = "jaxmem.sweeps" + ("" if path.stem == "__init__" else f".{path.stem}")
    found[name] = path
  return found


def _layer(module: str) -> str:
  parts = module.split(".")
  if len(parts) == 1:
    return "api"
  return {"__main__": "main"}.get(parts[1], parts[1])


def _imports(path: pathlib.Path, modules: dict) -> set[str]:
  """The package modules `path` imports, at any depth of its code."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      # `from a import b` imports module a.b, or the name b of module a.
      for alias in node.names:
        name = f"{node.module}.{alias.name}"
        found.add(name if name in modules else node.module)
    elif isinstance(node, ast.Import):
      found |= {a.name for a in node.names}
  return found & modules.keys()


def test_the_map_names_every_module_and_folder_and_nothing_else():
  doc = jaxmem.__doc__.split("The map")[1]
  mapped = set(re.findall(r"^  ([a-z_0-9]+(?:\.py|/))", doc, flags=re.M))
  actual = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py",
                                                                   "__main__.py")}
  actual |= {f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
  actual |= {"sweeps/"}  # Installed as jaxmem.sweeps from the repository's top.
  assert mapped == actual, (sorted(mapped - actual), sorted(actual - mapped))


def test_the_top_of_the_package_is_the_small_engine():
  top = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py",
                                                                "__main__.py")]
  assert len(top) <= 15, top


def test_each_folder_says_what_a_new_file_there_provides():
  for init in [*PACKAGE.glob("*/__init__.py"), ROOT / "sweeps" / "__init__.py"]:
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    assert re.search(r"A file (here|in this folder)", doc), init


def test_imports_run_down_the_layers_and_close_no_circle():
  modules = _modules()
  graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
  for module, imported in graph.items():
    for other in imported:
      if other == "jaxmem" and module.startswith("jaxmem.sweeps"):
        continue  # Sweep files use the public API.
      assert LAYERS.index(_layer(other)) <= LAYERS.index(_layer(module)), \
          f"{module} ({_layer(module)}) imports {other} ({_layer(other)}), a layer above"
  # No circle: a depth-first search finds no edge back into its own path.
  state = {}

  def visit(node, path):
    state[node] = "open"
    for nxt in graph[node]:
      assert state.get(nxt) != "open", f"circle: {' -> '.join(path + [nxt])}"
      if nxt not in state:
        visit(nxt, path + [nxt])
    state[node] = "done"
  for node in graph:
    if node not in state:
      visit(node, [node])


def test_setup_cfg_installs_every_package_and_sweeps_under_jaxmem():
  cfg = configparser.ConfigParser()
  cfg.read(ROOT / "setup.cfg")
  packages = set(cfg["options"]["packages"].split())
  folders = {"jaxmem"} | {f"jaxmem.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")}
  assert packages == folders | {"jaxmem.sweeps"}
  assert "jaxmem.sweeps = sweeps" in cfg["options"]["package_dir"]
  assert "version = attr: jaxmem.version.__version__" in (ROOT / "setup.cfg").read_text()


def test_only_execution_touches_the_lane_axis():
  for path in PACKAGE.rglob("*.py"):
    if path.name != "execution.py":
      text = path.read_text()
      assert not re.search(r"shard_map\(|def over_lanes", text), path


def test_pip_install_into_a_fresh_venv_finds_every_experiment_and_no_sweeps_module(
    tmp_path):
  """`pip install .` (not -e) from a copy of the source; the venv sees this
  environment's dependencies, not its jaxmem."""
  import shutil  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from jaxmem import sweeps  # pylint: disable=g-import-not-at-top
  source = tmp_path / "source"
  source.mkdir()
  for name in ("setup.cfg", "pyproject.toml", "README.md"):
    shutil.copy(ROOT / name, source)
  for name in ("jaxmem", "sweeps"):
    shutil.copytree(ROOT / name, source / name,
                    ignore=shutil.ignore_patterns("__pycache__"))
  venv = tmp_path / "venv"
  run = lambda *args: subprocess.run(args, capture_output=True, text=True, timeout=300,
                                     cwd=tmp_path)
  assert run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
             str(venv)).returncode == 0
  python = str(venv / "bin" / "python")
  done = run(sys.executable, "-m", "pip", "--python", python, "install", "-q",
             "--no-deps", "--no-build-isolation", str(source))
  assert done.returncode == 0, done.stderr[-2000:]
  where = run(python, "-c", "import jaxmem; print(jaxmem.__file__)").stdout.strip()
  assert where.startswith(str(venv)), where
  listed = run(str(venv / "bin" / "jaxmem"), "--list_experiments")
  assert listed.returncode == 0, listed.stderr[-2000:]
  assert [line.split()[0] for line in listed.stdout.splitlines()] == sweeps.names()
  assert len(sweeps.names()) >= 25
  assert "No module named 'sweeps'" in run(python, "-c", "import sweeps").stderr
  site = next((venv / "lib").glob("python*/site-packages"))
  assert not (site / "sweeps").exists() and (site / "jaxmem" / "sweeps").is_dir()
