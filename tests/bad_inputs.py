"""Every bad input a user can give, the one-line error it must produce, and a runner.

Shared by tests/test_cli.py (each case is a test) and scripts/bad_inputs.py
(which regenerates docs/bad_inputs.md from the messages the CLI prints).
"""

import gzip
import os
import pathlib
import shutil
import subprocess
import sys

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
    ("workdir that is a file", lambda tmp: _workdir(tmp, "file"), "is not a folder"),
    ("workdir that is a dangling link", lambda tmp: _workdir(tmp, "link"),
     "is a dangling link"),
    ("workdir holding someone else's files", lambda tmp: _workdir(tmp, "foreign"),
     "holds files jaxmem did not write (model_v1.pt, notes.txt)"),
]


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


def run_analysis_case(command: str, args: list[str] | None, run: pathlib.Path):
  """Runs `python -m <command>` on the finished run (unless args is None)."""
  env = dict(os.environ, JAXMEM_OFFLINE="1")
  full = [] if args is None else [f"--workdir={run}"] + [
      a.replace("{run}", str(run)) for a in args]
  out = subprocess.run([sys.executable, "-m", "jaxmem", command, *full], capture_output=True,
                       text=True, env=env, timeout=300)
  return out.returncode, [l for l in out.stderr.splitlines() if l.strip()]


def resolve(args, tmp: pathlib.Path) -> list[str]:
  """A case's arguments, making the files it needs under `tmp` first."""
  return args(tmp) if callable(args) else list(args)


def run_case(args: list[str], workdir: pathlib.Path):
  """Runs the CLI with `args`; returns (exit status, stderr's non-empty lines)."""
  # The memory a run may plan for is fixed, and TFDS's default folder is under
  # the case's tmp, so the messages are the same on any machine.
  # JAX logs every compilation (as a warning line), so a case that compiled
  # anything before failing shows more than its one line.
  env = dict(os.environ, JAXMEM_OFFLINE="1", JAXMEM_MEMORY="16G",
             TFDS_DATA_DIR=str(workdir.parent / "tfds_default"), JAX_LOG_COMPILES="1")
  own = [] if any(a.startswith("--workdir=") for a in args) else [f"--workdir={workdir}"]
  out = subprocess.run([sys.executable, "-m", "jaxmem", *TINY, *args, *own],
                       capture_output=True, text=True, env=env, timeout=300)
  # Shapes are traced (jax.eval_shape) to size a run before refusing it; only
  # lowering and compiling would be work.
  return out.returncode, [l for l in out.stderr.splitlines()
                          if l.strip() and "] Finished tracing " not in l]


def shown(line: str, tmp: pathlib.Path) -> str:
  """The message as the docs show it: temporary paths replaced by <tmp>."""
  return line.replace(str(tmp), "<tmp>")
