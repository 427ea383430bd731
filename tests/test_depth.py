"""Prediction depth: k-NN probes and depths on cases known by hand, and end to end."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxmem
from jaxmem import run as run_lib
from jaxmem import steps
from jaxmem.measures import depth
from jaxmem.workdir import files
from tests.test_train import tiny


def test_knn_votes_from_the_support_and_leaves_the_query_out():
  support = jnp.asarray([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
  labels = jnp.asarray([0, 1, 0, 1, 1, 1])  # Support point 1 sits among 0s.
  # Queries: the support itself (each leaving itself out), and a new point.
  queries = jnp.concatenate([support, jnp.asarray([[0.15]])])
  own = jnp.asarray([0, 1, 2, 3, 4, 5, -1])
  pred = depth.knn_predict(queries, support, labels, k=2, num_classes=2,
                           self_index=own, chunk=4)
  # Point 1's two other neighbours (0 and 2) say 0, whatever its own label;
  # point 0's are 1 and 2: a tie between 1 and 0 goes to 0. The new point at
  # 0.15 has 1 and 2 as neighbours (itself is not in the support): a tie, 0.
  np.testing.assert_array_equal(pred, [0, 0, 0, 1, 1, 1, 0])
  # Without leaving itself out, point 1 votes for its own label and wins ties.
  kept = depth.knn_predict(support, support, labels, k=1, num_classes=2)
  np.testing.assert_array_equal(kept, labels)


def test_depth_is_the_first_layer_from_which_all_probes_agree():
  agree = jnp.asarray([[0, 1, 0, 1],
                       [1, 1, 0, 0],
                       [1, 1, 0, 1]], bool)
  np.testing.assert_array_equal(depth.depth_from_agreement(agree), [1, 0, 3, 2])


def _numpy_depth(embeddings, subset, labels, pred, k, num_classes):
  """Baldock's depth recomputed in numpy for one lane (support: its subset)."""
  n = len(pred)
  agree = []
  for e in embeddings:
    d = ((e[:, None] - e[None, subset]) ** 2).sum(-1)
    for position, example in enumerate(subset):
      d[example, position] = np.inf  # A training example leaves itself out.
    neighbours = np.argsort(d, axis=1, kind="stable")[:, :k]
    votes = np.zeros((n, num_classes))
    for i in range(n):
      np.add.at(votes[i], labels[subset][neighbours[i]], 1)
    agree.append(votes.argmax(1) == pred)
  agree = np.array(agree)
  layers = len(embeddings)
  return np.array([next((l for l in range(layers) if agree[l:, i].all()), layers)
                   for i in range(n)])


def test_depth_of_a_trained_run_uses_the_lanes_subset_and_the_softmax(tmp_path):
  c = tiny(num_seeds=2, num_epochs=3, subset_ratio=0.5, batch_size=16,
           **{"depth.k": 5})
  jaxmem.train(c, str(tmp_path))
  recorded = files.Workdir(tmp_path).read_examples()["depth"]
  the_run = run_lib.Run.from_workdir(tmp_path)
  for lane_i in range(2):
    one = jax.tree.map(lambda x: x[lane_i], (the_run.constants, the_run.state.train))
    x = steps.inputs(the_run.task, the_run.data, one[0], jnp.arange(192), "train", None)
    logits, emb = the_run.task.model.apply(steps.variables(one[1]), x, train=False,
                                           return_embeddings=True)
    probes = [np.asarray(e) for e in emb[:-1]] + [np.asarray(jax.nn.softmax(logits))]
    expected = _numpy_depth(probes, np.asarray(one[0].subset), np.asarray(one[0].labels),
                            np.asarray(logits).argmax(1), 5, 10)
    np.testing.assert_array_equal(recorded[lane_i], expected)
  assert recorded.min() >= 0 and recorded.max() <= len(c.mlp_widths) + 2
