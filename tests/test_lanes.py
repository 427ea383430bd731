"""Grid x seeds expansion, presets, and keys that ignore the lanes beside them."""

import numpy as np
import pytest

from jaxmem import config as config_lib
from jaxmem import errors
from jaxmem import lanes


def _cfg(**kw):
  c = config_lib.base_config()
  c.update(kw)
  return c


def test_grid_times_seeds_grid_major():
  c = _cfg(num_seeds=3)
  c.grid.learning_rate = (0.1, 0.01)
  c.grid.label_corruption = (0.0, 1.0)
  ls = lanes.expand(c)
  assert len(ls) == 12 and ls.axes == ("learning_rate", "label_corruption")
  np.testing.assert_array_equal(ls.seed_index, [0, 1, 2] * 4)
  np.testing.assert_array_equal(ls.point, np.repeat(np.arange(4), 3))
  np.testing.assert_allclose(ls.hparams["learning_rate"], [0.1] * 6 + [0.01] * 6)
  np.testing.assert_allclose(ls.label_corruption, ([0.0] * 3 + [1.0] * 3) * 2)
  np.testing.assert_allclose(ls.hparams["momentum"], 0.9)  # Non-grid values come from the config.
  assert ls.describe(4) == dict(lane=4, seed=1, learning_rate=0.1, label_corruption=1.0)


def test_conditions_expand_to_presets():
  c = _cfg(num_seeds=1)
  c.grid.condition = ("true_labels", "random_labels", "gaussian")
  ls = lanes.expand(c)
  np.testing.assert_allclose(ls.label_corruption, [0, 1, 0])
  assert ls.input_kinds == ("none", "gaussian")
  np.testing.assert_array_equal(ls.input_code, [0, 0, 1])


def test_keys_depend_only_on_seed_and_seed_index():
  key = lambda seed, index, shared=False: {
      k: np.asarray(v) for k, v in lanes.lane_keys(seed, index, shared).items()}
  a, b = key(0, 0), key(0, 1)
  np.testing.assert_array_equal(key(0, 0)["init"], a["init"])  # Same seed index.
  assert not np.array_equal(a["init"], b["init"])
  assert len({k.tobytes() for k in a.values()}) == len(lanes.STREAMS)
  assert not np.array_equal(key(1, 0)["init"], a["init"])
  # A shared corruption draw ignores the seed index; the other streams do not.
  np.testing.assert_array_equal(key(0, 0, True)["corruption"], key(0, 5, True)["corruption"])
  assert not np.array_equal(key(0, 0, True)["order"], key(0, 5, True)["order"])


@pytest.mark.parametrize("field,value,needle", [
    ("label_corruption", 1.5, "[0, 1]"),
    ("input_corruption", "noise", "shuffled_pixels"),
    ("learning_rate", -1.0, ">= 0"),
])
def test_bad_lane_values_are_user_errors(field, value, needle):
  c = _cfg()
  c.grid[field] = (value,)
  with pytest.raises(errors.UserError, match=None) as e:
    config_lib.validate(c)
  assert needle in str(e.value) and "\n" not in str(e.value)
