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
  # And each convolution's form (on CPU: patches at tiny's batch of 32 and the
  # evaluation's 256).
  assert out["one"]["execution"]["convolutions"] == dict(training="patches",
                                                         evaluation="patches")
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
