"""How the lane axis executes: the one place that vmaps over lanes.

A function written for ONE lane, fn(data, lane, state, epoch), becomes a
function of every lane (a leading lane axis [L] on `lane`, `state` and the
outputs) in three nested layers, none of which changes a lane's result beyond
float32 summation order:

  chunk    `chunk` lanes are vmapped together;
  map      `lax.map` runs the chunks one after another inside one program,
           which is also what runs more lanes than fit in memory at once
           (only one chunk's activations are live);
  devices  with several devices, the lanes are split evenly over a 1-D
           `lanes` mesh with `shard_map`; each device maps over its own
           chunks, and the data set is replicated.

Measured on a 2-core CPU (docs/benchmarks.md), vmapping lanes is slower than
running them one after another (batched matmuls copy transposed gradients; the
lanes' weights overflow the cache, vmapped convolutions become grouped ones),
while on an accelerator one lane leaves the device idle. So the automatic
chunk is 1 on CPU and every lane (per device) elsewhere; `config.lane_chunk`
overrides it.
"""

import dataclasses

import jax
from jax.sharding import PartitionSpec as P
import jax.numpy as jnp
import numpy as np

from jaxmem import errors


def devices() -> list:
  """The devices the lanes are spread over: every local device."""
  return jax.local_devices()


def lane_chunk(config, num_lanes: int, num_devices: int = 1) -> int:
  """Lanes vmapped together on one device (see the module docstring)."""
  per_device = -(-num_lanes // num_devices)
  if config.lane_chunk:
    return min(config.lane_chunk, per_device)
  return 1 if jax.default_backend() == "cpu" else per_device


def _pad_to(x: jax.Array, size: int) -> jax.Array:
  """Pads the leading axis to `size` with copies of the last lane (dropped later)."""
  pad = size - x.shape[0]
  return jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x


def _chunked(fn, num_lanes: int, chunk: int):
  """Lanes in chunks of `chunk` (vmapped), chunks in sequence (lax.map)."""
  vmapped = jax.vmap(fn, in_axes=(None, 0, 0, None))
  if chunk >= num_lanes:
    return vmapped
  per_chunk = fn if chunk == 1 else vmapped
  padded = -(-num_lanes // chunk) * chunk

  def run(data, lane, state, epoch):
    def split(x):
      x = _pad_to(x, padded)
      return x.reshape((-1, chunk) + x.shape[1:]) if chunk > 1 else x
    out = jax.lax.map(lambda ls: per_chunk(data, ls[0], ls[1], epoch),
                      jax.tree.map(split, (lane, state)))
    merge = lambda x: x.reshape((-1,) + x.shape[2:]) if chunk > 1 else x
    return jax.tree.map(lambda x: merge(x)[:num_lanes], out)
  return run


def over_lanes(fn, num_lanes: int, chunk: int, num_devices: int = 1):
  """Lifts fn(data, lane, state, epoch) of ONE lane to a leading lane axis [L].

  Args:
    fn: the one-lane function; returns a pytree of arrays.
    num_lanes: L.
    chunk: lanes vmapped together on a device.
    num_devices: devices to split the lanes over (the first of `devices()`).

  Returns:
    A function of (data, lane [L], state [L], epoch) -> outputs [L].
  """
  if num_devices == 1:
    return _chunked(fn, num_lanes, chunk)
  per_device = -(-num_lanes // num_devices)
  mesh = jax.sharding.Mesh(np.asarray(devices()[:num_devices]), ("lanes",))
  local = jax.shard_map(_chunked(fn, per_device, chunk), mesh=mesh,
                        in_specs=(P(), P("lanes"), P("lanes"), P()),
                        out_specs=P("lanes"))

  def run(data, lane, state, epoch):
    padded = jax.tree.map(lambda x: _pad_to(x, per_device * num_devices),
                          (lane, state))
    out = local(data, *padded, epoch)
    return jax.tree.map(lambda x: x[:num_lanes], out)
  return run


@dataclasses.dataclass(frozen=True)
class Plan:
  """How one run's lanes execute."""
  num_lanes: int
  chunk: int  # Lanes vmapped together on a device.
  num_devices: int  # Devices the lanes are split over.

  def lift(self, fn):
    """over_lanes(fn) with this plan."""
    return over_lanes(fn, self.num_lanes, self.chunk, self.num_devices)

  def describe(self) -> dict:
    return dict(backend=jax.default_backend(),
                devices=[str(d) for d in devices()[:self.num_devices]],
                lane_chunk=self.chunk,
                lanes_per_device=-(-self.num_lanes // self.num_devices))


def plan(config, num_lanes: int) -> Plan:
  """Chooses the chunk and the devices for `num_lanes` lanes of `config`.

  Raises:
    UserError: config.num_devices asks for more devices than there are.
  """
  available = len(devices())
  wanted = config.num_devices or available
  if wanted > available:
    raise errors.UserError(
        f"config.num_devices={config.num_devices} but this machine has "
        f"{available} {jax.default_backend()} device(s); valid: 0 (all) or 1..{available}")
  used = min(wanted, num_lanes)
  return Plan(num_lanes, lane_chunk(config, num_lanes, used), used)
