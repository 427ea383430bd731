"""Every bad input a user can give, the one-line error it must produce, and a runner.

Shared by tests/test_cli.py (each case is a test) and scripts/bad_inputs.py
(which regenerates docs/bad_inputs.md from the messages the CLI prints).
"""

import gzip
import multiprocessing
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from tests.processes import TINY  # pylint: disable=g-bad-import-order


def _usps(tmp: pathlib.Path, mutate=None) -> list[str]:
  """A data folder holding USPS, its training file changed by `mutate`."""
  source = pathlib.Path(os.environ["JAXMEM_DATA_DIR"]) / "usps"
  folder = tmp / "data" / "usps"
  folder.mkdir(parents=True)
  for name in ("zip.train.gz", "zip.test.gz"):
    shutil.copy(source / name, folder / name)
  if mutate:
    mutate(folder / "zip.train.gz")
  return ["--config.dataset=usps", f"--data_dir={tmp / 'data'}"]


def _truncate(path):
  data = path.read_bytes()
  path.write_bytes(data[: len(data) // 2])


def _rewrite_first_row(path, change):
  with gzip.open(path, "rt") as f:
    rows = f.read().splitlines()
  rows[0] = change(rows[0])
  with gzip.open(path, "wt") as f:
    f.write("\n".join(rows) + "\n")


def _indices(tmp: pathlib.Path) -> list[str]:
  """A train_indices file that names an example the data set lacks."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  tmp.mkdir(parents=True, exist_ok=True)
  np.save(tmp / "keep.npy", np.array([0, 5000]))
  return [f"--config.train_indices={tmp / 'keep.npy'}"]


def _scores(tmp: pathlib.Path, kind: str) -> list[str]:
  """A pruning score file for TINY's 1024 training examples, broken by `kind`."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  tmp.mkdir(parents=True, exist_ok=True)
  ids, score = np.arange(1024), np.linspace(0, 1, 1024)
  if kind == "ids":
    ids, score = ids[:100], score[:100]
  if kind == "direction":
    np.savez(tmp / "s.npz", s=score)
    return [f"--config.pruning.scores={tmp / 's.npz'}", "--config.prune=hardest:s",
            "--config.pruning.fraction=0.5"]
  rows = "\n".join(f"{i},{v}" for i, v in zip(ids, score))
  (tmp / "s.csv").write_text("index,aum_mean\n" + rows + "\n")
  rule = "hardest:cscore" if kind == "column" else "stratified:aum"
  return [f"--config.pruning.scores={tmp / 's.csv'}", f"--config.prune={rule}",
          "--config.pruning.fraction=0.5"] + (
              ["--config.pruning.hard_cutoff=0.8"] if kind == "cutoff" else [])


def _label_12(row):
  return "12.0000 " + row.split(" ", 1)[1]


def _short_row(row):
  return " ".join(row.split()[:100])


# (what is wrong, extra arguments or a function of tmp_path giving them, text
# the one-line error must contain).
CASES = [
    ("unknown experiment", ["--experiment=nope"], "difficulty_usps, forgetting_cifar10"),
    ("unknown flag", ["--epochs=3"], "epochs"),
    ("stray argument", ["train"], "unexpected arguments"),
    ("unknown config key", ["--config.no_such_key=1"], "no_such_key"),
    ("config value of the wrong type", ["--config.num_epochs=abc"], "num_epochs"),
    ("unknown grid axis", ["--config.grid.depth=(1,2)"], "depth"),
    ("unknown model", ["--config.model=resnet"], "inception_small_nobn, lenet1989"),
    ("model option it lacks", ["--config.model=inception_small", "--config.dropout_rate=0.5"],
     "does not take"),
    ("unknown dataset", ["--config.dataset=imagenet"], "valid choices: usps, cifar10"),
    ("TFDS name of a bad form", ["--config.dataset=tfds:MNIST"],
     "after 'tfds:' comes a TFDS name"),
    ("TFDS data set TFDS does not know",
     lambda tmp: ["--config.dataset=tfds:nope", f"--data_dir={tmp}"],
     "TFDS knows no data set 'nope'"),
    ("TFDS data set not prepared",
     lambda tmp: ["--config.dataset=svhn", f"--data_dir={tmp}"],
     "tfds build svhn_cropped --file_format=array_record --data_dir="),
    ("unknown optimizer", ["--config.optimizer=lbfgs"], "valid choices: sgd, adam, adamw"),
    ("unknown schedule", ["--config.schedule=cosine"], "valid choices: constant"),
    ("unknown loss", ["--config.loss=hinge"], "valid choices: cross_entropy, mse"),
    ("unknown dtype", ["--config.dtype=float16"], "valid choices: float32, bfloat16"),
    ("unknown normalization", ["--config.preprocess.normalize=zca"],
     "valid choices: none, minus_one_one, standardize"),
    ("unknown condition", ["--config.grid.condition=('noisy',)"],
     "valid choices: true_labels"),
    ("unknown input corruption", ["--config.input_corruption=blur"],
     "valid choices: none, shuffled_pixels"),
    ("unknown label corruption kind", ["--config.label_corruption_kind=swap"],
     "valid choices: uniform, flip"),
    ("corruption level above 1", ["--config.label_corruption=1.5"], "[0, 1]"),
    ("corruption level below 0 in the grid",
     ["--config.grid.label_corruption=(0.0,-0.1)"], "[0, 1]"),
    ("grid values that do not stack", ["--config.grid.learning_rate=(0.1,'fast')"],
     "learning_rate must be a finite number"),
    ("negative learning rate", ["--config.learning_rate=-0.1"], ">= 0"),
    ("learning rate not a number", ["--config.learning_rate=nan"],
     "learning_rate must be a finite number >= 0, got nan"),
    ("infinite learning rate in the grid", ["--config.grid.learning_rate=(0.1,1e999)"],
     "got inf"),
    ("momentum of 1 or more", ["--config.momentum=1.0"], "in [0, 1)"),
    ("weight decay not a number", ["--config.weight_decay=nan"], "weight_decay must be"),
    ("decay rate of zero", ["--config.decay_rate=0.0"], "config.decay_rate must be a finite number > 0"),
    ("schedule factor not finite", ["--config.final_factor=inf"], "config.final_factor"),
    ("milestones out of order", ["--config.milestones=(10,5)"], "increasing epochs"),
    ("hidden width of zero", ["--config.mlp_widths=(0,)"], "config.mlp_widths must be"),
    ("negative seed", ["--config.seed=-1"], "config.seed must be an integer 0.."),
    ("absurd number of epochs", ["--config.num_epochs=1000000000"], "1..10000000"),
    ("a billion seeds", ["--config.num_seeds=1000000000"],
     "GB of per-example accumulators"),
    ("absurd synthetic data set", ["--config.synthetic.num_train=100000000000"],
     "config.synthetic asks for"),
    ("critical-sample step not finite", ["--config.critical.step=nan"],
     "config.critical.step must be a finite number"),
    ("evaluation every 0 epochs", ["--config.eval_every_epochs=0"],
     "config.eval_every_epochs must be an integer >= 1"),
    ("unknown history setting", ["--config.record_history=always"],
     "valid choices: auto, on, off"),
    ("negative prediction-depth k", ["--config.depth.k=-1"], "config.depth.k must be"),
    ("zero epochs", ["--config.num_epochs=0"], "num_epochs must be an integer 1.."),
    ("critical-sample search of no steps", ["--config.critical.iterations=0"],
     "config.critical.iterations must be an integer 1.."),
    ("negative critical-sample radius", ["--config.critical.radius=-0.01"],
     "config.critical.radius must be a finite number >= 0"),
    ("dropout rate of 1 or more", ["--config.dropout_rate=1.5"], "[0, 1)"),
    ("batch larger than the data", ["--config.batch_size=5000"], "valid: 1..1024"),
    ("crop larger than the images", ["--config.preprocess.crop=40"], "valid: 0..8"),
    ("subset larger than the data", ["--config.train_size=5000"], "5000"),
    ("training indices outside the data", _indices, "positions in 0..1023"),
    ("data missing offline", lambda tmp: ["--config.dataset=usps", f"--data_dir={tmp}"],
     "zip.train.gz"),
    ("data file truncated", lambda tmp: _usps(tmp, _truncate), "zip.train.gz"),
    ("label out of range in a data file",
     lambda tmp: _usps(tmp, lambda p: _rewrite_first_row(p, _label_12)), "zip.train.gz"),
    ("data row of the wrong shape",
     lambda tmp: _usps(tmp, lambda p: _rewrite_first_row(p, _short_row)), "zip.train.gz"),
    ("sweep file that is not there", ["--config=/nonexistent/my_sweep.py"],
     "--config=/nonexistent/my_sweep.py: no such file"),
    ("sweep file without get_config",
     lambda tmp: [f"--config={_file(tmp, 'empty.py', 'X = 1')}"], "defines no get_config()"),
    ("sweep file that fails to import",
     lambda tmp: [f"--config={_file(tmp, 'broken.py', 'import no_such_module')}"],
     "importing it failed: ModuleNotFoundError"),
    ("both --config=FILE and --experiment",
     lambda tmp: [f"--config={_file(tmp, 'plain.py', _PLAIN)}", "--experiment=quickstart"],
     "both choose the experiment; give one"),
    ("model path whose module does not import", ["--config.model=no_such_module:Net"],
     "module no_such_module does not import"),
    ("model path that is not a Module", ["--config.model=math:pi"],
     "is not a Flax Linen Module class or a factory"),
    ("model that returns the wrong shape",
     lambda tmp: [f"--config={_file(tmp, 'plain.py', _PLAIN)}", "--config.model=seven"],
     "model seven returns (2, 7) for 2 images; the protocol: logits [batch, "
     "num_classes] = (2, 10)"),
    ("prediction depth from a model without embeddings",
     lambda tmp: [f"--config={_file(tmp, 'plain.py', _PLAIN)}", "--config.model=plain",
                  "--config.depth.k=5"], "gives no embeddings"),
    ("unknown score", ["--config.scores.names=('aum','cleanlab')"],
     "unknown score 'cleanlab' in config.scores.names; valid choices: aum, data_map"),
    ("score epoch beyond the run",
     ["--config.scores.names=('el2n',)", "--config.scores.el2n_epochs=(20,)"],
     "config.scores.el2n_epochs: epoch 20 is outside the run; valid: 0 "
     "(initialization)..1"),
    ("score epochs without the score", ["--config.scores.grand_epochs=(0,)"],
     "grand needs both"),
    ("threshold samples without AUM", ["--config.scores.threshold_samples=True"],
     "add 'aum' to config.scores.names"),
    ("threshold samples without a free class index",
     lambda tmp: [f"--config={_file(tmp, 'plain.py', _PLAIN)}", "--config.model=ten",
                  "--config.scores.names=('aum',)", "--config.scores.threshold_samples=True"],
     "needs a free class index: model ten must output num_classes + 1 = 11 logits"),
    ("pruning fraction outside (0, 1]",
     ["--config.prune=random", "--config.pruning.fraction=1.5"],
     "config.pruning.fraction must be in (0, 1], got 1.5"),
    ("pruning fraction of zero", ["--config.prune=random", "--config.pruning.fraction=0.0"],
     "config.pruning.fraction must be in (0, 1], got 0.0"),
    ("unknown pruning rule", ["--config.prune=largest:el2n"],
     "unknown pruning rule 'largest:el2n'; valid choices: random, hardest:S, easiest:S "
     "or stratified:S"),
    ("pruning rule without a score file", ["--config.prune=hardest:el2n"],
     "needs a score file: config.pruning.scores"),
    ("pruning fraction without a rule", ["--config.pruning.fraction=0.5"],
     "needs a pruning rule"),
    ("pruning beside subset_ratio", ["--config.prune=random", "--config.subset_ratio=0.5",
                                     "--config.pruning.fraction=0.5"],
     "both choose the training subset"),
    ("pruning rules mixed with none",
     ["--config.grid.prune=('none','random')", "--config.pruning.fraction=0.5"],
     "mixes 'none' with pruning rules"),
    ("pruning score file that is not there",
     ["--config.prune=hardest:el2n", "--config.pruning.scores=/nonexistent/s.csv"],
     "config.pruning.scores /nonexistent/s.csv: No such file or directory"),
    ("pruning score file whose ids do not join", lambda tmp: _scores(tmp, "ids"),
     "924 of the 1024 training examples' ids are not in it"),
    ("pruning score the file lacks", lambda tmp: _scores(tmp, "column"),
     "has no such score; valid choices: aum_mean"),
    ("pruning score of unknown direction", lambda tmp: _scores(tmp, "direction"),
     "write hardest:+s (higher is harder) or hardest:-s (lower is harder)"),
    ("stratified hard cutoff that leaves too few", lambda tmp: _scores(tmp, "cutoff"),
     "config.pruning.hard_cutoff 0.8 leaves 205 examples, fewer than the 512 to keep"),
    ("npz data set missing arrays", lambda tmp: _npz(tmp, y_test=None),
     "missing arrays y_test"),
    ("npz data set of mismatched lengths",
     lambda tmp: _npz(tmp, y_train=__import__("numpy").arange(39) % 3),
     "x_train holds 40 images but y_train 39 entries"),
    ("labels out of range", lambda tmp: _npz(tmp, num_classes=2), "labels outside 0..1"),
    ("image folder of one class", lambda tmp: _folder(tmp, 1), "1 class folder(s)"),
    ("image folder of no class", lambda tmp: _folder(tmp, 0), "0 class folder(s)"),
    ("workdir that is a file", lambda tmp: _workdir(tmp, "file"), "is not a folder"),
    ("workdir that is a dangling link", lambda tmp: _workdir(tmp, "link"),
     "is a dangling link"),
    ("workdir holding someone else's files", lambda tmp: _workdir(tmp, "foreign"),
     "holds files jaxmem did not write (model_v1.pt, notes.txt)"),
]


def _file(tmp: pathlib.Path, name: str, text: str) -> pathlib.Path:
  tmp.mkdir(parents=True, exist_ok=True)
  (tmp / name).write_text(text)
  return tmp / name


def _npz(tmp: pathlib.Path, **change) -> list[str]:
  """An npz data set of 40 + 20 random 4x4 images in 3 classes, changed."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  arrays = dict(x_train=rng.random((40, 4, 4)), y_train=np.arange(40) % 3,
                x_test=rng.random((20, 4, 4)), y_test=np.arange(20) % 3)
  arrays.update(change)
  arrays = {k: v for k, v in arrays.items() if v is not None}
  tmp.mkdir(parents=True, exist_ok=True)
  np.savez(tmp / "mine.npz", **arrays)
  return [f"--config.dataset=npz:{tmp / 'mine.npz'}"]


def _folder(tmp: pathlib.Path, classes: int) -> list[str]:
  """A folder of 4x4 PNGs in `classes` class folders."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  for split in ("train", "test"):
    (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
    for c in range(classes):
      (tmp / "images" / split / f"class_{c}").mkdir()
      Image.fromarray(np.full((4, 4), 40 * c, np.uint8)).save(
          tmp / "images" / split / f"class_{c}" / "0.png")
  return [f"--config.dataset=folder:{tmp / 'images'}"]


_PLAIN = """import flax.linen as nn
import jaxmem


class Plain(nn.Module):
  num_classes: int

  @nn.compact
  def __call__(self, x, train=False):
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))


class Seven(nn.Module):  # Seven logits, whatever the classes.
  num_classes: int

  @nn.compact
  def __call__(self, x, train=False):
    return nn.Dense(7)(x.reshape(x.shape[0], -1))


class Ten(nn.Module):  # Ten logits, whatever the classes.
  num_classes: int

  @nn.compact
  def __call__(self, x, train=False):
    return nn.Dense(10)(x.reshape(x.shape[0], -1))


jaxmem.register_model("plain", Plain)
jaxmem.register_model("seven", Seven)
jaxmem.register_model("ten", Ten)


def get_config():
  return jaxmem.base_config()
"""


# Cases refused by config validation alone: the same command-line path as
# "corruption level above 1" (one line, exit 2, nothing compiled or written),
# so tests/test_cli.py checks their messages in-process against the config's
# own validation, and the docs table (made by the command line) against those.
IN_PROCESS = frozenset({
    "unknown optimizer", "unknown schedule", "unknown loss", "unknown dtype",
    "unknown normalization", "unknown condition", "unknown input corruption",
    "unknown label corruption kind", "corruption level below 0 in the grid",
    "negative learning rate", "momentum of 1 or more", "weight decay not a number",
    "decay rate of zero", "schedule factor not finite", "milestones out of order",
    "hidden width of zero", "negative seed", "absurd number of epochs",
    "critical-sample step not finite", "evaluation every 0 epochs",
    "unknown history setting", "negative prediction-depth k", "zero epochs",
    "critical-sample search of no steps", "negative critical-sample radius",
    "dropout rate of 1 or more", "unknown score", "score epoch beyond the run",
    "score epochs without the score", "threshold samples without AUM",
    "pruning fraction outside (0, 1]", "pruning fraction of zero", "unknown pruning rule",
    "pruning rule without a score file", "pruning fraction without a rule",
    "pruning beside subset_ratio", "pruning rules mixed with none",
    "pruning score file that is not there"})


def config_of(args: list[str]):
  """The config the command would build from the default experiment, TINY and
  `args` (--config.KEY=VALUE only; values read as Python literals, else as
  floats, else as text, as the command line reads them)."""
  import ast  # pylint: disable=g-import-not-at-top
  from jaxmem import sweeps  # pylint: disable=g-import-not-at-top
  config = sweeps.load("quickstart")
  for arg in [*TINY, *args]:  # The last value of a key wins, as on the command line.
    key, value = arg[len("--config."):].split("=", 1)
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      try:
        value = float(value)
      except ValueError:
        pass
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
      node = node[part]
    node[leaf] = value
  return config


def _workdir(tmp: pathlib.Path, kind: str) -> list[str]:
  """A --workdir that is a file, a link to nowhere, or a folder of foreign files."""
  tmp.mkdir(parents=True, exist_ok=True)
  path = tmp / "w"
  if kind == "file":
    path.write_text("not a folder")
  elif kind == "link":
    path.symlink_to(tmp / "nowhere")
  else:
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    (path / "model_v1.pt").write_bytes(b"weights")
  return [f"--workdir={path}"]


# Bad flags of the analysis commands, on a finished TINY run (`{run}` below):
# (what is wrong, command, arguments, text the one-line error must contain).
ANALYSIS_CASES = [
    ("neighbours beyond the training set", "analyze", ["--knn_k=100000"],
     "--knn_k=100000: valid: 1..1023"),
    ("no neighbours", "analyze", ["--knn_k=0"], "valid: 1..1023"),
    ("negative critical-sample count", "analyze", ["--critical_examples=-1"],
     "valid: 0 (no search)..1024"),
    ("fit threshold above 1", "report", ["--fit_threshold=2"],
     "--fit_threshold=2.0: valid: a training accuracy in (0, 1]"),
    ("fit threshold not a number", "report", ["--fit_threshold=nan"],
     "valid: a training accuracy in (0, 1]"),
    ("several workdirs without --out", "analyze", ["--workdir={run}"],
     "needs --out=DIR"),
    ("no workdir", "report", None, "needs --workdir=W"),
    ("published scores that are not there", "analyze",
     ["--compare=/nonexistent/cscores.npz"], "--compare=/nonexistent/cscores.npz: no such file"),
    ("a training flag", "analyze", ["--config.num_epochs=3"],
     "valid flags of jaxmem analyze: --workdir, --out"),
]


# Bad calls of `jaxmem.open(<run>)`'s results in Python, on the finished TINY
# run (2 lanes of 8x8x1 images): (what is wrong, the call on `r`, text the
# one-line UserError must contain).
PYTHON_CASES = [
    ("a lane the run does not have", "r.model(2)", "model(2): valid lanes: 0..1"),
    ("a negative lane", "r.model(-1)", "model(-1): valid lanes: 0..1"),
    ("images of another shape", "r.predict(np.zeros((2, 9, 9, 1)), lane=0)",
     "predict: images of shape (2, 9, 9, 1); lane 0 takes [batch, 8, 8, 1]"),
    ("one image without its batch axis", "r.predict(np.zeros((8, 8, 1)), lane=0)",
     "predict: images of shape (8, 8, 1)"),
]


def run_python_case(call: str, run: pathlib.Path) -> str:
  """The one-line message of `call` on jaxmem.open(run); raises if none."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import jaxmem  # pylint: disable=g-import-not-at-top
  r = jaxmem.open(run)
  try:
    eval(call, dict(r=r, np=np))  # pylint: disable=eval-used
  except jaxmem.UserError as e:
    return str(e)
  raise AssertionError(f"{call} raised no UserError")


# What `python -m jaxmem` imports before it parses a flag, imported once by a
# fork server (never a command module: each defines its own absl flags).
_PRELOAD = ["jax", "jax.numpy", "flax.linen", "optax", "ml_collections", "absl.flags",
            "jaxmem.config", "jaxmem.models", "jaxmem.datasets", "jaxmem.commands.common"]
_SERVER = []


def _cli_child(argv: list[str], env: dict, stderr: str) -> None:
  """In a child of the fork server: `python -m jaxmem ARGV`, stderr to a file.
  The child starts from the server's imports, with no JAX backend yet."""
  os.environ.clear()
  os.environ.update(env)
  err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
  os.dup2(err, 2)
  os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_log_compiles", env.get("JAX_LOG_COMPILES") == "1")
  sys.argv = ["jaxmem", *argv]
  from jaxmem import commands  # pylint: disable=g-import-not-at-top
  commands.run()


def _jaxmem(argv: list[str], env: dict, fresh: bool) -> tuple[int, str]:
  """(exit status, stderr) of the jaxmem command line. `fresh`: a new Python
  process, as a user starts it; else a fork of a server that has already
  imported JAX and the library (the same code from the same first line, two
  seconds less of imports per case)."""
  if fresh:
    out = subprocess.run([sys.executable, "-m", "jaxmem", *argv], capture_output=True,
                         text=True, env=env, timeout=300, check=False)
    return out.returncode, out.stderr
  if not _SERVER:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    _SERVER.append(context)
  with tempfile.NamedTemporaryFile(suffix=".stderr") as err:
    child = _SERVER[0].Process(target=_cli_child, args=(argv, env, err.name))
    child.start()
    child.join(300)
    if child.exitcode is None:
      child.kill()
      child.join()
      raise AssertionError(f"jaxmem {' '.join(argv)} ran over 300 s and was killed")
    return child.exitcode, pathlib.Path(err.name).read_text()


def run_analysis_case(command: str, args: list[str] | None, run: pathlib.Path,
                      fresh: bool = False):
  """Runs `jaxmem <command>` on the finished run (unless args is None)."""
  env = dict(os.environ, JAXMEM_OFFLINE="1")
  full = [] if args is None else [f"--workdir={run}"] + [
      a.replace("{run}", str(run)) for a in args]
  status, stderr = _jaxmem([command, *full], env, fresh)
  return status, [l for l in stderr.splitlines() if l.strip()]


def resolve(args, tmp: pathlib.Path) -> list[str]:
  """A case's arguments, making the files it needs under `tmp` first."""
  return args(tmp) if callable(args) else list(args)


def run_case(args: list[str], workdir: pathlib.Path, fresh: bool = False):
  """Runs the CLI with `args`; returns (exit status, stderr's non-empty lines).
  `fresh`: in a new Python process (scripts/bad_inputs.py, for the docs)."""
  # The memory a run may plan for is fixed, and TFDS's default folder is under
  # the case's tmp, so the messages are the same on any machine.
  # JAX logs every compilation (as a warning line), so a case that compiled
  # anything before failing shows more than its one line.
  env = dict(os.environ, JAXMEM_OFFLINE="1", JAXMEM_MEMORY="16G",
             TFDS_DATA_DIR=str(workdir.parent / "tfds_default"), JAX_LOG_COMPILES="1")
  own = [] if any(a.startswith("--workdir=") for a in args) else [f"--workdir={workdir}"]
  status, stderr = _jaxmem([*TINY, *args, *own], env, fresh)
  # Shapes are traced (jax.eval_shape) to size a run before refusing it; only
  # lowering and compiling would be work.
  return status, [l for l in stderr.splitlines()
                  if l.strip() and "] Finished tracing " not in l]


def shown(line: str, tmp: pathlib.Path) -> str:
  """The message as the docs show it: temporary paths replaced by <tmp>."""
  return line.replace(str(tmp), "<tmp>")
