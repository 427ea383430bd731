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

Measured on a 2-core CPU (docs/benchmarks.md), vmapping lanes is mostly
slower than running them one after another (batched matmuls copy transposed
gradients; the lanes' weights overflow the cache), while on an accelerator one
lane leaves the device idle. So the automatic chunk is 1 on CPU, except where
`CPU_CHUNKS` measured better (small convolutions at small batch, a step of
tiny kernels each paying a fixed cost: vmapped, each kernel does the work of
several lanes), and elsewhere every lane on a device, or as many as fit in
half the device's memory (measured from the compiled one-lane program);
`config.lane_chunk` overrides it. On CPU the host is split into one XLA
device per core (`split_host`, before JAX starts): the cores then train
different lanes at once, 1.6x faster for LeNet 1989 on 2 cores, whose
batch-1 steps are too small for XLA's intra-op threads.
"""

import dataclasses
import functools
import math
import logging
import os

import jax
from jax.sharding import PartitionSpec as P
import jax.numpy as jnp
import numpy as np

from jaxmem import errors


def devices() -> list:
  """The devices the lanes are spread over: every device of every process
  (the local ones when the run is one process)."""
  return jax.devices()


def split_host(count: int | None = None) -> int:
  """Makes JAX's CPU backend `count` devices (default: one per usable core).

  Must run before JAX starts its backends; afterwards it changes nothing and
  logs why. An explicit --xla_force_host_platform_device_count in XLA_FLAGS
  wins. Accelerator backends are unaffected.

  Returns:
    The CPU device count asked for (0 when left to XLA_FLAGS).
  """
  if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return 0
  count = count or len(os.sched_getaffinity(0))
  try:
    jax.config.update("jax_num_cpu_devices", count)
  except RuntimeError as e:  # Backends already initialized.
    logging.warning("CPU devices not split: %s", e)
  return count


def chunk_for_memory(bytes_per_lane: int, bytes_free: int, per_device: int) -> int:
  """Lanes whose one-lane footprints fit in half of `bytes_free` (at least 1).

  The other half is left for the data set, XLA's own buffers and the
  imprecision of a per-lane estimate.
  """
  return int(max(1, min(per_device, bytes_free // 2 // max(bytes_per_lane, 1))))


def device_bytes_free(device) -> int | None:
  """Free memory of an accelerator, None where the backend does not say (CPU)."""
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if not stats or "bytes_limit" not in stats:
    return None
  return stats["bytes_limit"] - stats.get("bytes_in_use", 0)


# The automatic chunk on CPU for batches under SMALL_BATCH, by model, where it
# is not 1; from scripts/bench_lane_forms.py on 2 cores. LeNet 1989
# (and its variants, the same step) at batch 1, convolutions as patches
# (`models.layers.conv_form`): 8 lanes vmapped ran 1.7x lanes one after
# another (1.5x the form before), 16 no faster than 8, and none of XLA's CPU
# options (XNNPACK, YNNPACK, oneDNN, -O1, 512-bit vectors) helped; an MLP at
# batch 1 lost vmapped (0.7x), its step bound by reading its weights.
SMALL_BATCH = 8
CPU_CHUNKS = {"lenet1989": 8, "lenet1989_linear": 8, "lenet1989_relu": 8}


# Options of the programs a run executes once (its setup, its cache of
# corrupted inputs): on CPU, LLVM at -O1 instead of -O3. Their compiling is
# mostly LLVM optimizing threefry's unrolled rounds (LeNet 1989's setup: 3.0
# s at -O3, 1.1 s at -O1), while they run in milliseconds either way; the
# values are the same (tests/test_execution.py). The epoch's programs keep
# -O3: at -O1 they trained 0.87x as fast (scripts/bench_lane_forms.py).
def run_once_options() -> dict:
  return {"xla_backend_optimization_level": 1} if jax.default_backend() == "cpu" else {}


def lane_chunk(config, num_lanes: int, num_devices: int = 1,
               bytes_per_lane: int | None = None) -> int:
  """Lanes vmapped together on one device (see the module docstring).

  Args:
    config: its lane_chunk (0: automatic) is used.
    num_lanes: lanes in the run.
    num_devices: devices they are split over.
    bytes_per_lane: one lane's memory footprint (arguments, outputs and
      temporaries of its compiled program), for the automatic chunk on an
      accelerator; None: no memory limit is applied.
  """
  per_device = -(-num_lanes // num_devices)
  if config.lane_chunk:
    return min(config.lane_chunk, per_device)
  if jax.default_backend() == "cpu":
    small = config.batch_size < SMALL_BATCH
    return min(CPU_CHUNKS.get(config.model, 1) if small else 1, per_device)
  free = device_bytes_free(devices()[0])
  if bytes_per_lane is None or free is None:
    return per_device
  return chunk_for_memory(bytes_per_lane, free, per_device)


def eval_chunk(config, chunk: int) -> int:
  """Examples ONE lane evaluates at a time, of `chunk` lanes vmapped together.

  On CPU, config.eval_batch_size examples per chunk of lanes, shared among
  them, keeps what one evaluation step touches cache-sized: 8 vmapped LeNet
  1989 lanes evaluated 7,291 examples 2.2x faster at 32 examples each than
  at 256 (scripts/bench_eval_batch.py). Elsewhere each lane evaluates
  eval_batch_size examples at a time, for the accelerator's parallelism.
  """
  if jax.default_backend() == "cpu":
    return max(1, config.eval_batch_size // chunk)
  return config.eval_batch_size


def lane_bytes(fn, data, lane, state, epoch) -> int:
  """One lane's footprint: XLA's memory analysis of fn(data, lane, state,
  epoch) compiled for ONE lane (no lane axis), less the shared data set."""
  analysis = jax.jit(fn).lower(data, lane, state, epoch).compile().memory_analysis()
  if analysis is None:
    return 0
  shared = sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize
               for x in jax.tree.leaves(data))  # Arrays or ShapeDtypeStructs.
  return int(max(0, analysis.argument_size_in_bytes - shared)
             + analysis.output_size_in_bytes + analysis.temp_size_in_bytes)


def _pad_to(x: jax.Array, size: int) -> jax.Array:
  """Pads the leading axis to `size` with copies of the last lane (dropped later)."""
  pad = size - x.shape[0]
  return jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x


def _chunked(fn, num_lanes: int, chunk: int):
  """fn(shared, lanes) over lanes in chunks of `chunk` (vmapped), chunks in
  sequence (lax.map); `lanes` carries the leading lane axis."""
  vmapped = jax.vmap(fn, in_axes=(None, 0))
  if chunk >= num_lanes:
    return vmapped
  per_chunk = fn if chunk == 1 else vmapped
  padded = -(-num_lanes // chunk) * chunk

  def run(shared, lanes):
    def split(x):
      x = _pad_to(x, padded)
      return x.reshape((-1, chunk) + x.shape[1:]) if chunk > 1 else x
    out = jax.lax.map(lambda ls: per_chunk(shared, ls), jax.tree.map(split, lanes))
    merge = lambda x: x.reshape((-1,) + x.shape[2:]) if chunk > 1 else x
    return jax.tree.map(lambda x: merge(x)[:num_lanes], out)
  return run


def over_lanes(fn, num_lanes: int, chunk: int, num_devices: int = 1,
               lane_args: tuple[int, ...] = (1, 2)):
  """Lifts fn of ONE lane to a leading lane axis [L].

  Args:
    fn: the one-lane function; returns a pytree of arrays.
    num_lanes: L.
    chunk: lanes vmapped together on a device.
    num_devices: devices to split the lanes over (the first of `devices()`).
    lane_args: the positions of fn's arguments that carry the lane axis (for
      the epoch, fn(data, lane, state, epoch): (1, 2)); the others are shared
      by every lane.

  Returns:
    A function of the same arguments, those at `lane_args` with a leading
    lane axis [L], returning outputs [L].
  """
  lane_args = tuple(lane_args)

  def packed(shared, lanes):
    args, shared, lanes = [], list(shared), list(lanes)
    for i in range(len(shared) + len(lanes)):
      args.append(lanes.pop(0) if i in lane_args else shared.pop(0))
    return fn(*args)

  def unpack(args):
    return (tuple(a for i, a in enumerate(args) if i not in lane_args),
            tuple(a for i, a in enumerate(args) if i in lane_args))

  if num_devices == 1:
    lifted = _chunked(packed, num_lanes, chunk)
    return lambda *args: lifted(*unpack(args))
  per_device = -(-num_lanes // num_devices)
  mesh = jax.sharding.Mesh(np.asarray(devices()[:num_devices]), ("lanes",))
  local = jax.shard_map(_chunked(packed, per_device, chunk), mesh=mesh,
                        in_specs=(P(), P("lanes")), out_specs=P("lanes"),
                        # Lanes never communicate; without this, lax.switch
                        # branches that do and do not read per-lane values
                        # (input corruptions) fail JAX's replication check.
                        check_vma=False)

  size = per_device * num_devices

  def run(*args):
    shared, lanes = unpack(args)
    given = jax.tree.leaves(lanes)[0].shape[0]
    if given == size:  # Already padded (Plan.put): outputs stay padded.
      return local(shared, lanes)
    padded = jax.tree.map(lambda x: _pad_to(x, size), lanes)
    out = local(shared, padded)
    return jax.tree.map(lambda x: x[:num_lanes], out)
  return run


@dataclasses.dataclass(frozen=True)
class Plan:
  """How one run's lanes execute."""
  num_lanes: int
  chunk: int  # Lanes vmapped together on a device.
  num_devices: int  # Devices the lanes are split over.

  def lift(self, fn, lane_args: tuple[int, ...] = (1, 2)):
    """over_lanes(fn, lane_args=...) with this plan: the only way jaxmem's
    programs of one lane become programs of every lane. Lane arguments of
    `padded_lanes` lanes (Plan.put) give outputs of as many."""
    return over_lanes(fn, self.num_lanes, self.chunk, self.num_devices, lane_args)

  def run_once(self, fn, *args, lane_args: tuple[int, ...] = (1,)):
    """fn lifted by this plan, compiled with `run_once_options` and run once
    on `args`: for the programs that run once per run."""
    lifted = jax.jit(self.lift(fn, lane_args))
    return lifted.lower(*args).compile(run_once_options())(*args)

  @property
  def padded_lanes(self) -> int:
    """The lanes the devices hold: the run's, padded with copies of the last
    so that every device has as many (the copies' results are dropped)."""
    return -(-self.num_lanes // self.num_devices) * self.num_devices

  @functools.cached_property
  def mesh(self) -> jax.sharding.Mesh:
    return jax.sharding.Mesh(np.asarray(devices()[:self.num_devices]), ("lanes",))

  @functools.cached_property
  def sharding(self) -> jax.sharding.Sharding:
    """The lane axis split over the devices (arrays [padded_lanes, ...])."""
    if self.num_devices == 1:
      return jax.sharding.SingleDeviceSharding(devices()[0])
    return jax.sharding.NamedSharding(self.mesh, P("lanes"))

  def fill_padding(self, tree):
    """Lane-sharded arrays with their padding lanes made copies of the last
    lane, as `put` pads (e.g. after a restore that padded with zeros)."""
    if self.padded_lanes == self.num_lanes:
      return tree
    last = self.num_lanes - 1
    fill = jax.jit(lambda x: x.at[last + 1:].set(x[last]), out_shardings=self.sharding)
    return jax.tree.map(fill, tree)

  def put(self, tree):
    """Host arrays [L, ...] (or already [padded_lanes, ...]) as device arrays
    padded to `padded_lanes` and split over the lanes mesh; each process
    places only its own devices' lanes."""
    def one(x):
      x = np.asarray(x)
      if x.shape[0] != self.padded_lanes:
        x = np.concatenate([x, np.repeat(x[-1:], self.padded_lanes - x.shape[0], 0)])
      if self.num_devices == 1:
        return jax.device_put(x, devices()[0])
      return jax.make_array_from_callback(x.shape, self.sharding, lambda index: x[index])
    return jax.tree.map(one, tree)

  def replicate(self, tree):
    """Host arrays as device arrays replicated on every device of the mesh
    (the data set)."""
    def one(x):
      x = np.asarray(x)
      if self.num_devices == 1:
        return jax.device_put(x, devices()[0])
      sharding = jax.sharding.NamedSharding(self.mesh, P())
      return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
    return jax.tree.map(one, tree)

  def describe(self) -> dict:
    return dict(backend=jax.default_backend(),
                devices=[str(d) for d in devices()[:self.num_devices]],
                processes=jax.process_count(),
                device_processes=[d.process_index for d in devices()[:self.num_devices]],
                lane_chunk=self.chunk,
                lanes=("one after another (lax.map)" if self.chunk == 1
                       else f"vmapped {self.chunk} at a time"),
                lanes_per_device=-(-self.num_lanes // self.num_devices))


def plan(config, num_lanes: int, bytes_per_lane: int | None = None) -> Plan:
  """Chooses the chunk and the devices for `num_lanes` lanes of `config`.

  `bytes_per_lane` (see `lane_chunk`) bounds the automatic chunk on an
  accelerator, so that a run with more lanes than fit in memory runs them
  in chunks instead of failing.

  Raises:
    UserError: config.num_devices asks for more devices than there are.
  """
  available = len(devices())
  wanted = config.num_devices or available
  if wanted > available:
    raise errors.UserError(
        f"config.num_devices={config.num_devices} but this machine has "
        f"{available} {jax.default_backend()} device(s); valid: 0 (all) or 1..{available}")
  if jax.process_count() > 1 and wanted != available:
    raise errors.UserError(
        f"config.num_devices={config.num_devices}: a run over {jax.process_count()} "
        f"processes uses all their {available} devices; valid: 0 or {available}")
  if jax.process_count() > 1 and num_lanes < available:
    raise errors.UserError(
        f"{num_lanes} lanes over {available} devices of {jax.process_count()} "
        "processes: every device needs a lane; use more seeds or fewer processes")
  used = min(wanted, num_lanes)
  return Plan(num_lanes, lane_chunk(config, num_lanes, used, bytes_per_lane), used)
