"""Lane execution: chunks and devices change nothing but the float32 rounding."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jaxmem import errors
from jaxmem import execution
from tests.test_train import tiny

# Trains the same 6 lanes on 1 device and split over 4 fake CPU devices (6 is
# not a multiple of 4: the last device gets padding lanes, dropped after),
# with chunks of 1 and 2, and prints what each recorded.
_SHARDED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import jaxmem
    from jaxmem.workdir import files
    from tests.test_train import tiny
    out = {}
    for name, devices, chunk in (("one", 1, 1), ("four", 4, 1), ("four_chunk2", 4, 2)):
      path = f"{sys.argv[1]}/{name}"
      jaxmem.train(tiny(num_seeds=6, num_devices=devices, lane_chunk=chunk), path)
      wd = files.Workdir(path)
      out[name] = dict(loss=[r["train_loss"] for r in wd.read_metrics()],
                       pred=wd.read_examples()["train_pred"].tolist(),
                       execution=wd.read_json("config.json")["execution"])
    print(json.dumps(out))
""")


def test_lanes_split_over_four_devices_match_one_device(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAXMEM_OFFLINE="1")
  done = subprocess.run([sys.executable, "-c", _SHARDED, str(tmp_path)], env=env,
                        capture_output=True, text=True, timeout=600,
                        cwd=os.path.dirname(os.path.dirname(__file__)))
  assert done.returncode == 0, done.stderr[-3000:]
  out = json.loads(done.stdout.strip().splitlines()[-1])
  assert len(out["four"]["execution"]["devices"]) == 4
  assert out["four"]["execution"]["lanes_per_device"] == 2
  assert len(out["one"]["execution"]["devices"]) == 1
  # config.json says which form ran: lanes one after another, or vmapped.
  assert out["one"]["execution"]["lanes"] == "one after another (lax.map)"
  assert out["four_chunk2"]["execution"]["lanes"] == "vmapped 2 at a time"
  # And how convolutions ran (on CPU: patches).
  assert out["one"]["execution"]["convolutions"] == "patches"
  for name in ("four", "four_chunk2"):
    np.testing.assert_allclose(out[name]["loss"], out["one"]["loss"], rtol=1e-5)
    pred, ref = np.asarray(out[name]["pred"]), np.asarray(out["one"]["pred"])
    assert (pred == ref).mean() > 0.999  # Argmax ties aside, the same predictions.


@pytest.mark.parametrize("num_lanes,chunk", [(5, 1), (5, 2), (5, 5), (7, 3)])
def test_chunked_lanes_equal_one_vmap(num_lanes, chunk):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def one_lane(data, lane, state, epoch):
    return {"y": jnp.tanh(state @ lane) * data + epoch, "s": jnp.sum(lane)}
  lane = jax.random.normal(jax.random.PRNGKey(0), (num_lanes, 4))
  state = jax.random.normal(jax.random.PRNGKey(1), (num_lanes, 3, 4))
  want = jax.vmap(one_lane, in_axes=(None, 0, 0, None))(2.0, lane, state, 1)
  got = jax.jit(execution.over_lanes(one_lane, num_lanes, chunk))(2.0, lane, state, 1)
  for key in want:
    assert got[key].shape == want[key].shape
    np.testing.assert_allclose(got[key], want[key], rtol=1e-6)


def test_plan_chooses_and_checks_devices():
  plan = execution.plan(tiny(num_seeds=3), 3)
  assert plan.num_devices == 1 and plan.chunk == 1  # One CPU device here.
  with pytest.raises(errors.UserError, match="valid: 0 \\(all\\) or 1..1"):
    execution.plan(tiny(num_devices=2), 3)
  assert execution.plan(tiny(lane_chunk=8), 3).chunk == 3


def test_the_cpu_plan_vmaps_lenet1989_at_batch_1_and_runs_an_mlp_lane_by_lane():
  lenet = lambda **o: tiny(**{"model": "lenet1989", "batch_size": 1, **o})
  assert execution.plan(lenet(num_seeds=20), 20).chunk == 8
  assert execution.plan(lenet(num_seeds=3), 3).chunk == 3  # No more than the lanes.
  assert execution.plan(lenet(num_seeds=20, batch_size=32), 20).chunk == 1
  assert execution.plan(lenet(num_seeds=20, lane_chunk=1), 20).chunk == 1
  assert execution.plan(tiny(num_seeds=20, batch_size=1), 20).chunk == 1


def test_lenet1989_lanes_vmapped_in_the_patch_form_equal_each_lane_alone(tmp_path):
  """The form the CPU plan picks for LeNet 1989 at batch 1 (lanes vmapped,
  convolutions as one batched patch matmul, H2 as one masked kernel, the
  evaluation chunk shared by the vmapped lanes) gives
  every lane what it gets trained alone, one lane by itself in the map form,
  to float32 rounding: per-epoch losses and accuracies, and each example's
  final prediction."""
  import jaxmem  # pylint: disable=g-import-not-at-top
  from jaxmem.workdir import files  # pylint: disable=g-import-not-at-top

  def lenet(path, **overrides):
    c = tiny(model="lenet1989", batch_size=1, loss="mse", learning_rate=0.03,
             eval_batch_size=32, **overrides)
    c.synthetic.update(dict(num_train=48, num_test=32, shape=(16, 16, 1)))
    jaxmem.train(c, str(path))
    wd = files.Workdir(path)
    return (wd.read_json("config.json")["execution"], wd.read_metrics(),
            wd.read_examples()["train_pred"])

  together, rows, pred = lenet(tmp_path / "together", num_seeds=3)
  assert together["lanes"] == "vmapped 3 at a time"
  assert together["convolutions"] == "patches"
  # The 3 lanes share the 32-example evaluation chunk; a lane alone has all 32.
  assert together["eval_chunk"] == 10
  for seed in (0, 2):
    alone, alone_rows, alone_pred = lenet(tmp_path / f"alone{seed}", num_seeds=1,
                                          first_seed=seed)
    assert alone["lanes"] == "one after another (lax.map)"
    assert alone["eval_chunk"] == 32
    mine = [r for r in rows if r["seed"] == seed]
    assert len(mine) == len(alone_rows) == 2
    for got, want in zip(mine, alone_rows):
      for key in ("train_loss", "test_loss", "train_acc", "test_acc"):
        assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), (seed, key)
    np.testing.assert_array_equal(pred[seed], alone_pred[0])


def test_programs_run_once_give_the_values_of_a_full_optimization(monkeypatch):
  """A run's setup and its cache of corrupted inputs, compiled at LLVM -O1 on
  CPU (execution.run_once_options), equal what the default -O3 gives, bit for
  bit: LeNet 1989's initial parameters, every lane constant (labels, subset,
  keys) and every cached corrupted image."""
  import jax  # pylint: disable=g-import-not-at-top
  from jaxmem import run as run_lib  # pylint: disable=g-import-not-at-top

  c = tiny(model="lenet1989", batch_size=1, num_seeds=2, cache_inputs="on",
           label_corruption=0.5)
  c.synthetic.update(dict(num_train=24, num_test=8, shape=(16, 16, 1)))
  c.grid.input_corruption = ("random_pixels", "gaussian")
  assert execution.run_once_options() == {"xla_backend_optimization_level": 1}
  once = run_lib.Run.build(c)
  monkeypatch.setattr(execution, "run_once_options", lambda: {})
  default = run_lib.Run.build(c)
  assert once.constants.images is not None
  def bits(r):
    keys = lambda x: jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
    return [np.asarray(jax.random.key_data(x) if keys(x) else x)
            for x in jax.tree.leaves((r.constants, r.state))]
  for got, want in zip(bits(once), bits(default), strict=True):
    np.testing.assert_array_equal(got, want)


def test_chunk_for_memory_caps_lanes_by_free_memory():
  assert execution.chunk_for_memory(10**6, 10**9, 1024) == 500  # Half the memory.
  assert execution.chunk_for_memory(10**6, 10**12, 64) == 64  # No more than the lanes.
  assert execution.chunk_for_memory(10**10, 10**9, 64) == 1  # At least one.


def test_lane_bytes_counts_one_lane_without_the_shared_data():
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def fn(data, lane, state, epoch):
    return state * lane + jnp.sum(data) + epoch
  small = execution.lane_bytes(fn, jnp.zeros(1000), jnp.ones(10), jnp.ones(10), 0)
  big = execution.lane_bytes(fn, jnp.zeros(100_000), jnp.ones(10), jnp.ones(10), 0)
  assert 0 < small < 4000 and abs(big - small) < 1000


_CLI = ["-m", "jaxmem", "--config.dataset=synthetic", "--config.synthetic.num_train=64",
        "--config.synthetic.num_test=32", "--config.synthetic.shape=(4,4,1)",
        "--config.model=mlp", "--config.mlp_widths=(8,)", "--config.num_seeds=3",
        "--config.num_epochs=1", "--config.batch_size=16"]


@pytest.mark.parametrize("value,xla_count,devices", [("3", None, 3), ("1", 2, 2)],
                         ids=["jaxmem_cpu_devices", "xla_flags_win"])
def test_cli_splits_the_cpu_into_devices(tmp_path, value, xla_count, devices):
  """JAXMEM_CPU_DEVICES sets the CPU's device count, unless XLA_FLAGS names one."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env.update(JAXMEM_CPU_DEVICES=value, JAXMEM_OFFLINE="1")
  if xla_count:
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={xla_count}"
  done = subprocess.run([sys.executable, *_CLI, f"--workdir={tmp_path}/run"], env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  config = json.loads((tmp_path / "run" / "config.json").read_text())
  assert len(config["execution"]["devices"]) == devices


def test_cli_rejects_a_bad_cpu_device_count(tmp_path):
  env = dict(os.environ, JAXMEM_CPU_DEVICES="many")
  done = subprocess.run([sys.executable, *_CLI, f"--workdir={tmp_path}/run"], env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 2
  assert done.stderr.strip().splitlines() == [
      "jaxmem: error: JAXMEM_CPU_DEVICES='many': valid: a positive integer, or "
      "unset (one device per core)"]
  assert not (tmp_path / "run").exists()
