"""Many processes, one run: jax.distributed, and what crosses between processes.

One command over many processes is one multi-controller JAX program: every
process runs the same code; the `lanes` mesh spans every process's devices;
each process builds and trains only its own lanes (a lane's keys depend only
on the config and its seed index, so results do not depend on the layout).
What crosses processes is small: each epoch's per-lane sums (gathered to every
process, written by process 0), a stop request, a liveness beat. Every
process takes part in the same Orbax checkpoint on the shared workdir.

`initialize` starts the multi-controller runtime when the launch asks for it:
  * explicitly: --coordinator_address, --num_processes, --process_id (plain
    ssh launches, and the tests on localhost);
  * by a cluster manager that JAX detects: SLURM (SLURM_JOB_ID,
    SLURM_STEP_NODELIST, SLURM_NTASKS > 1, SLURM_PROCID, SLURM_LOCALID), Open
    MPI (OMPI_COMM_WORLD_SIZE > 1), Cloud TPU pod slices, GKE;
  * otherwise the run stays single-process.
On CPU the processes talk over gloo (JAX's default CPU collectives).
"""

import dataclasses
import os
import threading
import time

from absl import logging
import jax
import numpy as np

from jaxmem import errors

HEARTBEAT_TIMEOUT_S = 100  # JAX's default: a lost process is noticed after this.


@dataclasses.dataclass(frozen=True)
class Launch:
  """How the command was launched across processes."""
  coordinator_address: str | None = None
  num_processes: int | None = None
  process_id: int | None = None
  heartbeat_timeout_s: int = HEARTBEAT_TIMEOUT_S

  @property
  def explicit(self) -> bool:
    return self.num_processes is not None


def cluster() -> str | None:
  """The cluster manager whose environment asks for several processes, if any."""
  env = os.environ
  slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
           "SLURM_LOCALID")
  if all(k in env for k in slurm) and int(env["SLURM_NTASKS"]) > 1:
    return "slurm"
  if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
    return "ompi"
  if env.get("TPU_WORKER_HOSTNAMES", "").count(",") >= 1:
    return "cloud_tpu"
  return None


def check(launch: Launch) -> None:
  """Raises UserError for an incomplete or impossible explicit launch."""
  given = [launch.coordinator_address, launch.num_processes, launch.process_id]
  if any(v is not None for v in given) and any(v is None for v in given):
    raise errors.UserError(
        "--coordinator_address, --num_processes and --process_id go together "
        "(or none, for one process or a cluster manager JAX detects)")
  if launch.explicit:
    if launch.num_processes < 1 or not 0 <= launch.process_id < launch.num_processes:
      raise errors.UserError(
          f"--process_id={launch.process_id} with --num_processes="
          f"{launch.num_processes}: valid: 0..{launch.num_processes - 1}")
    if ":" not in launch.coordinator_address:
      raise errors.UserError(
          f"--coordinator_address={launch.coordinator_address}: valid: host:port")
  if launch.heartbeat_timeout_s < 1:
    raise errors.UserError(
        f"--heartbeat_timeout_s={launch.heartbeat_timeout_s}: valid: >= 1")


def initialize(launch: Launch) -> bool:
  """Starts jax.distributed if the launch or the cluster asks; before any
  other use of JAX. Returns whether the run spans several processes."""
  check(launch)
  detected = cluster()
  if not launch.explicit and detected is None:
    return False
  if launch.explicit and launch.num_processes == 1:
    return False
  kwargs = dict(heartbeat_timeout_seconds=launch.heartbeat_timeout_s,
                initialization_timeout=max(60, launch.heartbeat_timeout_s))
  if launch.explicit:
    kwargs.update(coordinator_address=launch.coordinator_address,
                  num_processes=launch.num_processes, process_id=launch.process_id)
  if jax.config.jax_platforms in (None, "", "cpu") and detected == "slurm":
    # SLURM_LOCALID would pick one device of each host's CPU backend.
    kwargs["local_device_ids"] = list(range(jax.config.jax_num_cpu_devices or 1))
  jax.distributed.initialize(**kwargs)
  logging.info("process %d of %d (%s), %d local of %d devices",
               jax.process_index(), jax.process_count(),
               "explicit" if launch.explicit else detected,
               jax.local_device_count(), jax.device_count())
  return True


def spans_processes() -> bool:
  return jax.process_count() > 1


def is_primary() -> bool:
  """Process 0 writes the run's small records."""
  return jax.process_index() == 0


def describe() -> dict:
  """config.json's record of the processes and their devices."""
  return dict(count=jax.process_count(),
              devices=[[str(d) for d in jax.devices() if d.process_index == p]
                       for p in range(jax.process_count())])


def gather(tree):
  """Every lane's values of a pytree of lane-sharded arrays, as numpy on
  every process (small per-lane sums: one allgather per epoch)."""
  if not spans_processes():
    return jax.device_get(tree)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return multihost_utils.process_allgather(tree, tiled=True)


def combine_disjoint(table: np.ndarray) -> np.ndarray:
  """Rows each process filled for its own lanes (zeros elsewhere), combined:
  the same full table on every process."""
  if not spans_processes():
    return table
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.max(multihost_utils.process_allgather(table), axis=0).astype(table.dtype)


def broadcast(value: dict) -> dict:
  """Process 0's JSON-able value, on every process."""
  if not spans_processes():
    return value
  import json  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  text = json.dumps(value).encode()
  size = int(np.max(multihost_utils.process_allgather(np.asarray([len(text)], np.int32))))
  buffer = np.zeros(size, np.uint8)
  buffer[:len(text)] = np.frombuffer(text, np.uint8)
  got = multihost_utils.broadcast_one_to_all(buffer)
  return json.loads(bytes(np.asarray(got)).rstrip(b"\0").decode())


def agree(flag: bool) -> bool:
  """True on every process if `flag` is true on any (e.g. a stop request)."""
  if not spans_processes():
    return flag
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  flags = multihost_utils.process_allgather(np.asarray([int(flag)], np.int32))
  return bool(np.any(flags))


def barrier(name: str) -> None:
  if spans_processes():
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


class Watchdog:
  """Notices a lost process before JAX's runtime aborts the survivors.

  Every process writes a beat into the coordination service's key-value
  store every `interval` seconds; process 0 reads the others'. When one is
  older than `timeout`, `on_lost(process, seconds)` runs on process 0 (it
  records the failure and exits), before JAX's own heartbeat (set longer)
  aborts without a word.
  """

  def __init__(self, timeout_s: float, on_lost, interval_s: float = 1.0):
    self.timeout, self.on_lost, self.interval = timeout_s, on_lost, interval_s
    self._stop = threading.Event()
    self._thread = None

  def __enter__(self) -> "Watchdog":
    if spans_processes():
      self._thread = threading.Thread(target=self._run, daemon=True)
      self._thread.start()
    return self

  def _client(self):
    from jax._src import distributed as jax_distributed  # pylint: disable=g-import-not-at-top
    return jax_distributed.global_state.client

  def _run(self) -> None:
    client, me = self._client(), jax.process_index()
    # Each process counts its beats; process 0 notes, by its own clock, when
    # each count last moved (clocks of different hosts are never compared).
    # A peer is watched from its first beat (processes start at their own pace).
    beats, moved = {}, {p: None for p in range(jax.process_count()) if p != me}
    count, last = 0, time.time()
    while not self._stop.is_set():
      count += 1
      now = time.time()
      if now - last > 2 * self.interval + 1:
        # This thread itself was held up (the main thread in a call that
        # keeps the interpreter): what it did not see is not evidence.
        moved = {p: (None if t is None else now) for p, t in moved.items()}
      last = now
      try:
        client.key_value_set(f"jaxmem/beat/{me}", str(count), allow_overwrite=True)
      except Exception:  # pylint: disable=broad-except
        pass
      if me == 0:
        for p in moved:
          try:
            value = client.key_value_try_get(f"jaxmem/beat/{p}")
          except Exception:  # pylint: disable=broad-except
            value = None
          if value is not None and value != beats.get(p):
            beats[p], moved[p] = value, time.time()
          if moved[p] is not None and time.time() - moved[p] > self.timeout:
            self.on_lost(p, time.time() - moved[p])
            return
      self._stop.wait(self.interval)

  def __exit__(self, *exc) -> None:
    self._stop.set()
