"""Your own model and data set in jaxmem, swept, read back and used.

  python docs/examples/own_model_and_data.py [OUT]     # OUT: default a temporary folder

Everything of one's own lives outside the package, in OUT: the data set (here
scikit-learn's digits, saved as arrays in an .npz as one would save one's own)
and the model (a Flax module in a file beside it). The sweep: 2 learning rates
x 2 label corruption levels x 8 seeds = 32 lanes, trained as one program; then
the run is opened in Python, its test accuracy plotted with its seed spread,
and one lane's network classifies images it never saw. About a minute on 2
CPU cores; tests/test_docs.py runs it.
"""

import pathlib
import sys
import tempfile
import textwrap

import numpy as np

import jaxmem

MODEL = textwrap.dedent('''
    import flax.linen as nn


    class TinyConvNet(nn.Module):
      """A 3x3 convolution, then a linear layer on its maps."""
      num_classes: int
      channels: int = 16

      @nn.compact
      def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Conv(self.channels, (3, 3))(x))
        return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1))
''')


def write_my_data(folder: pathlib.Path) -> pathlib.Path:
  """Digits as uint8 arrays with ids of their own, as one's own data would be."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  images = (digits.images * 255 / 16).round().astype(np.uint8)
  path = folder / "my_digits.npz"
  np.savez(path, x_train=images[:1400], y_train=digits.target[:1400],
           x_test=images[1400:], y_test=digits.target[1400:],
           train_ids=np.arange(1400), test_ids=np.arange(1400, len(images)))
  return path


def main(out: pathlib.Path) -> None:
  out.mkdir(parents=True, exist_ok=True)
  (out / "my_models.py").write_text(MODEL)
  sys.path.insert(0, str(out))  # So that "my_models:TinyConvNet" imports.
  data = write_my_data(out)

  config = jaxmem.base_config()
  config.dataset = f"npz:{data}"
  config.model = "my_models:TinyConvNet"
  config.model_kwargs.channels = 16
  config.preprocess.normalize = "standardize"
  config.grid.learning_rate = (0.01, 0.05)
  config.grid.label_corruption = (0.0, 0.4)
  config.num_seeds = 8
  config.num_epochs = 6
  config.batch_size = 64
  config.momentum = 0.9
  jaxmem.train(config, str(out / "run"), overwrite=True)

  results = jaxmem.open(out / "run")
  final = results.metrics[results.metrics.epoch == config.num_epochs]
  table = final.groupby(["learning_rate", "label_corruption"]).test_acc.agg(
      ["mean", "std", "count"])
  print("test accuracy after the last epoch, over seeds:\n", table)

  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for lr, part in table.reset_index().groupby("learning_rate"):
    ax.errorbar(part.label_corruption, part["mean"], yerr=part["std"], marker="o",
                capsize=3, label=f"learning rate {lr}")
  ax.set(xlabel="label corruption", ylabel="test accuracy (mean +- std, 8 seeds)")
  ax.legend()
  fig.tight_layout()
  fig.savefig(out / "test_accuracy.png", dpi=100)

  # Lane 0 (learning rate 0.01, clean labels, seed 0) on images it never saw:
  # the test digits, shifted by one pixel.
  new_images = np.roll(np.load(data)["x_test"], 1, axis=2)[..., None]
  logits = results.predict(new_images, lane=0)
  accuracy = (logits.argmax(-1) == np.load(data)["y_test"]).mean()
  print(f"lane 0 on the shifted test digits: {100 * accuracy:.1f}% right")
  # In the noisy lanes, the examples forgotten most are mostly the ones whose
  # labels were corrupted: each record knows which were.
  noisy = results.lanes.index[results.lanes.label_corruption == 0.4]
  records = results.examples.loc[list(noisy)]
  most = records.forgetting >= records.forgetting.quantile(0.9)
  print(f"noisy lanes: {100 * records.corrupted[most].mean():.0f}% of the most "
        f"forgotten (lane, example) pairs have corrupted labels, against "
        f"{100 * records.corrupted.mean():.0f}% of all")


if __name__ == "__main__":
  main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else
       pathlib.Path(tempfile.mkdtemp(prefix="jaxmem_example_")))
