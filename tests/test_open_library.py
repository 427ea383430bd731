"""An open library: a sweep file of one's own (its own Flax model, a module
beside it, real digits as an npz and as a folder of PNGs), trained by the
command and from Python, resumed after SIGKILL, and read back in Python."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxmem
from jaxmem import config_files
from jaxmem.workdir import files
from tests import processes

SWEEP = textwrap.dedent('''
    """My own sweep: a two-layer network on my digits, learning rates x label noise."""
    import os

    import flax.linen as nn

    import jaxmem
    from my_layers import Hidden  # A module beside this file.

    HERE = os.path.dirname(os.path.abspath(__file__))


    class TwoLayer(nn.Module):
      num_classes: int
      width: int = 16

      @nn.compact
      def __call__(self, x, train: bool = False):
        return nn.Dense(self.num_classes)(Hidden(self.width)(x.reshape(x.shape[0], -1)))


    jaxmem.register_model("two_layer", TwoLayer)


    def get_config(data="npz"):
      c = jaxmem.base_config()
      c.dataset = (f"npz:{HERE}/digits.npz" if data == "npz"
                   else f"folder:{HERE}/digits")
      c.model = "two_layer"
      c.model_kwargs.width = 32
      c.grid.learning_rate = (0.05, 0.1)
      c.grid.label_corruption = (0.0, 0.5)
      c.num_seeds = 2
      c.num_epochs = 3
      c.batch_size = 64
      c.checkpoint_every_epochs = 1
      c.lock()
      return c
''')
LAYERS = textwrap.dedent('''
    import flax.linen as nn


    class Hidden(nn.Module):
      width: int

      @nn.compact
      def __call__(self, x):
        return nn.relu(nn.Dense(self.width)(x))
''')


@pytest.fixture(scope="module")
def mine(tmp_path_factory):
  """A folder outside the repository: the sweep file, a module beside it,
  scikit-learn's digits as uint8 arrays in an npz and as PNGs in a folder."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from sklearn import datasets as sklearn_datasets  # pylint: disable=g-import-not-at-top
  folder = tmp_path_factory.mktemp("mine")
  (folder / "my_sweep.py").write_text(SWEEP)
  (folder / "my_layers.py").write_text(LAYERS)
  digits = sklearn_datasets.load_digits()
  images = (digits.images * 255 / 16).round().astype(np.uint8)  # [1797, 8, 8]
  ids = np.arange(len(images)) * 3 + 1000  # Ids of their own, not positions.
  split = {"train": slice(0, 1500), "test": slice(1500, None)}
  np.savez(folder / "digits.npz", **{f"{k}_{s}": v[split[s]] for s in split
                                     for k, v in (("x", images), ("y", digits.target))},
           train_ids=ids[split["train"]], test_ids=ids[split["test"]])
  for s, part in split.items():
    for image, label, i in zip(images[part], digits.target[part], ids[part]):
      target = folder / "digits" / s / f"digit_{label}"
      target.mkdir(parents=True, exist_ok=True)
      Image.fromarray(image).save(target / f"{i:05d}.png")
  return folder


@pytest.fixture(scope="module")
def by_command(mine, tmp_path_factory):
  path = tmp_path_factory.mktemp("by_command") / "run"
  status, lines = processes.run(path, f"--config={mine}/my_sweep.py", args=[])
  assert status == 0, lines
  return path


def test_a_sweep_file_of_ones_own_trains_the_same_from_the_command_and_python(
    mine, by_command, tmp_path):
  described = files.Workdir(by_command).read_json("config.json")
  recorded = described["config_file"]
  assert recorded["path"] == str(mine / "my_sweep.py")
  assert recorded["text"] == SWEEP and len(recorded["sha256"]) == 64
  assert described["config"]["model_kwargs"] == {"width": 32}
  assert str(mine) in described["dataset"]["source"] and "sha256" in described["dataset"]["source"]
  config, _ = config_files.load_file(str(mine / "my_sweep.py"))
  jaxmem.train(config, str(tmp_path / "python"), config_file=str(mine / "my_sweep.py"))
  processes.assert_same_results(by_command, tmp_path / "python")


def test_a_sweep_file_run_resumes_after_sigkill_identically(mine, by_command, tmp_path):
  """Killed right after epoch 2's checkpoint (from inside the progress line,
  so the moment is the same every time), then rerun by the command."""
  workdir = tmp_path / "run"
  kill = textwrap.dedent(f"""
      import os, signal, sys
      sys.argv = ["jaxmem", "--config={mine}/my_sweep.py", "--workdir={workdir}"]
      from jaxmem import trainer
      log = trainer._log_progress
      def killing(epoch, *a):
        log(epoch, *a)
        if epoch == 2:
          os.kill(os.getpid(), signal.SIGKILL)
      trainer._log_progress = killing
      from jaxmem import commands
      commands.run()
  """)
  killed = subprocess.run([sys.executable, "-c", kill], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, JAXMEM_OFFLINE="1"))
  assert killed.returncode == -9, killed.stderr[-2000:]
  assert files.Workdir(workdir).status() == "running"
  log = tmp_path / "rerun.log"
  assert processes.finish(processes.start(workdir, f"--config={mine}/my_sweep.py",
                                          args=[], log=log)) == 0
  assert processes.resumed_from(log.read_text()) == 2
  assert processes.epochs_trained(log.read_text()) == [3]
  processes.assert_same_results(by_command, workdir)


def test_a_folder_of_pngs_trains_as_the_npz_of_the_same_images(mine, by_command, tmp_path):
  status, lines = processes.run(tmp_path / "folder", f"--config={mine}/my_sweep.py:folder",
                                args=[])
  assert status == 0, lines
  described = files.Workdir(tmp_path / "folder").read_json("config.json")
  assert described["config"]["dataset"].startswith("folder:")
  assert described["config_file"]["arg"] == "folder"
  a, b = files.Workdir(by_command), files.Workdir(tmp_path / "folder")
  assert [processes.strip(r) for r in a.read_metrics()] == \
      [processes.strip(r) for r in b.read_metrics()]
  ea, eb = a.read_examples(), b.read_examples()
  assert ea.keys() == eb.keys()
  for key in ea:
    np.testing.assert_array_equal(ea[key], eb[key], err_msg=key)


def test_open_gives_dataframes_of_the_files_and_each_lanes_network(mine, by_command):
  results = jaxmem.open(by_command)
  rows = [json.loads(l) for l in (by_command / "metrics.jsonl").read_text().splitlines()]
  assert results.metrics.to_dict("records") == rows
  assert list(results.lanes.index) == list(range(8))
  assert set(results.lanes["learning_rate"]) == {0.05, 0.1}
  assert results.config.model_kwargs.width == 32
  ex = files.Workdir(by_command).read_examples()
  frame = results.examples
  ids = np.load(mine / "digits.npz")["train_ids"]
  assert frame.index.names == ["lane", "example"]
  assert list(frame.loc[3].index) == list(ids)  # The examples' own ids.
  for column in ("labels", "forgetting", "first_learned", "train_correct", "in_subset"):
    np.testing.assert_array_equal(frame[column].to_numpy().reshape(8, -1), ex[column])
  test_images = np.load(mine / "digits.npz")["x_test"]
  for lane in (0, 5):
    module, variables = results.model(lane)
    assert type(module).__name__ == "TwoLayer" and "params" in variables
    logits = results.predict(test_images, lane=lane)
    np.testing.assert_array_equal(np.argmax(logits, -1), ex["test_pred"][lane])
  table = results.difficulty(k=5)  # A table per labels distribution.
  assert list(table.groupby("group", sort=False).size().items()) == [
      ("clean labels", 1500), ("uniform label noise 0.5", 1500)]
  assert list(table[table.group == "clean labels"]["index"]) == list(ids)
  found = results.detection()  # Only the noisy group has corrupted labels.
  assert set(found.group) == {"uniform label noise 0.5"}
  assert list(found.score) == ["forgetting", "first_learned"]  # No scores recorded.
  assert ((found.auroc_mean >= 0) & (found.auroc_mean <= 1)).all()


def test_open_in_a_new_process_finds_the_sweep_files_own_model(by_command):
  """The model was registered by the sweep file; a fresh process registers it
  again from the file config.json names."""
  code = (f"import jaxmem, numpy as np; r = jaxmem.open({str(by_command)!r}); "
          "m, v = r.model(1); print(type(m).__name__, r.predict(np.zeros((3, 8, 8, 1), "
          "np.float32), lane=1).shape)")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        timeout=300, cwd="/")
  assert done.returncode == 0, done.stderr[-2000:]
  assert done.stdout.split() == ["TwoLayer", "(3,", "10)"]
