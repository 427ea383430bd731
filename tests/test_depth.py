"""Prediction depth: k-NN probes and depths on cases known by hand, and end to end."""

import jax.numpy as jnp
import numpy as np

from jaxmem import train
from jaxmem.analysis import depth
from tests.test_train import tiny


def test_knn_leaves_the_example_out_and_votes():
  emb = jnp.asarray([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
  labels = jnp.asarray([0, 1, 0, 1, 1, 1])  # Example 1 sits among 0s.
  pred = depth.knn_predict(emb, labels, k=2, num_classes=2, chunk=4)
  # Example 1's two neighbours (0 and 2) say 0, whatever its own label; example
  # 0's neighbours are 1 and 2: a tie between classes 1 and 0 goes to 0.
  np.testing.assert_array_equal(pred, [0, 0, 0, 1, 1, 1])


def test_depth_is_the_first_layer_from_which_all_probes_agree():
  agree = jnp.asarray([[0, 1, 0, 1],
                       [1, 1, 0, 0],
                       [1, 1, 0, 1]], bool)
  np.testing.assert_array_equal(depth.depth_from_agreement(agree), [1, 0, 3, 2])


def test_prediction_depth_of_a_trained_run(tmp_path):
  c = tiny(num_seeds=2, num_epochs=3)
  train.run(c, str(tmp_path))
  task, data, lane, state, _, _ = train.load_finished(str(tmp_path))
  out = depth.compute(task, data, lane, state, k=5)
  layers = len(c.mlp_widths) + 2  # Input, hidden, logits.
  assert out["depth"].shape == (2, 192) and out["probe_pred"].shape == (2, layers, 192)
  assert out["depth"].min() >= 0 and out["depth"].max() <= layers
  # The depths follow from the probes, recomputed here in numpy.
  agree = out["probe_pred"] == out["pred"][:, None]
  for lane_i in range(2):
    for n in range(192):
      expected = next((l for l in range(layers) if agree[lane_i, l:, n].all()), layers)
      assert out["depth"][lane_i, n] == expected
  # The final predictions are those the run recorded for its last epoch.
  recorded = np.load(tmp_path / "examples.npz")["train_pred"][:, -1]
  np.testing.assert_array_equal(out["pred"], recorded)
