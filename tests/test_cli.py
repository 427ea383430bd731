"""The command line: bad input ends with one line, exit status 2, nothing written."""

import os
import subprocess
import sys

import pytest

from jaxmem import experiment


def jaxmem(*args, env=None, cwd=None):
  full_env = dict(os.environ, JAXMEM_OFFLINE="1", **(env or {}))
  return subprocess.run([sys.executable, "-m", "jaxmem", *args], capture_output=True,
                        text=True, env=full_env, cwd=cwd, timeout=300)


def test_list_experiments_names_every_sweep():
  out = jaxmem("--list_experiments")
  assert out.returncode == 0
  for name in ("quickstart", "zhang_usps", "zhang_corruption_usps", "lecun1989_usps",
               "zhang_cifar10_mlp"):
    assert name in out.stdout
  assert set(experiment.names()) >= {"quickstart", "lecun1989_usps"}


TINY = ["--config.dataset=synthetic", "--config.num_epochs=1", "--config.num_seeds=1",
        "--config.model=mlp", "--config.mlp_widths=(8,)"]

BAD_INPUTS = [
    # (arguments, text the one-line error must contain)
    (["--experiment=nope"], "valid choices: lecun1989_usps"),
    (["--config.no_such_key=1"], "no_such_key"),
    (["--config.model=resnet"], "inception_small_nobn, lenet1989"),
    (["--config.dataset=imagenet"], "valid choices: usps, cifar10"),
    (["--config.label_corruption=1.5"], "[0, 1]"),
    (["--config.grid.label_corruption=(0.0,-0.1)"], "[0, 1]"),
    (["--config.batch_size=5000"], "valid: 1..1024"),
    (["--config.optimizer=lbfgs"], "valid choices: sgd, adam, adamw"),
    (["--config.num_epochs=abc"], "num_epochs"),
    (["--config.dataset=usps", "--data_dir={empty}"], "zip.train.gz"),
]


@pytest.mark.parametrize("args,needle", BAD_INPUTS, ids=[a[0][0] for a in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, needle):
  empty = tmp_path / "empty"
  empty.mkdir()
  workdir = tmp_path / "run"
  args = [a.format(empty=empty) for a in args]
  out = jaxmem(*TINY, *args, f"--workdir={workdir}")
  assert out.returncode == 2, out.stderr[-2000:]
  lines = [l for l in out.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, out.stderr[-2000:]
  assert lines[0].startswith("jaxmem: error:")
  assert needle in lines[0]
  assert not workdir.exists()  # Failed before anything was written.


def test_a_tiny_run_from_the_command_line(tmp_path):
  out = jaxmem(*TINY, f"--workdir={tmp_path / 'run'}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert "test acc %" in out.stdout
  assert (tmp_path / "run" / "summary.json").exists()
  again = jaxmem(*TINY, f"--workdir={tmp_path / 'run'}")  # Refuses to overwrite.
  assert again.returncode == 2 and "--overwrite" in again.stderr
  assert jaxmem(*TINY, f"--workdir={tmp_path / 'run'}", "--overwrite").returncode == 0
