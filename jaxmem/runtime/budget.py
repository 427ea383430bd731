"""What a run will need, checked before it allocates or trains: memory and disk.

A sweep of a billion seeds, or one whose next checkpoint cannot fit on the
disk, must say so in one line before any work, naming its estimate and what
to change. Estimates come from shapes only (`jax.eval_shape`), so nothing is
allocated to make them.
"""

import dataclasses
import math
import os
import shutil

import jax
import numpy as np

from jaxmem import errors

# Host bytes per lane besides its arrays: its identity in config.json, its
# metrics row per epoch, its summary entry (measured: about 1-2 kB).
HOST_BYTES_PER_LANE = 4096
# Use at most this fraction of the memory that is available.
USABLE = 0.9


def tree_bytes(tree) -> int:
  """Bytes of a pytree of arrays or ShapeDtypeStructs."""
  return int(sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize
                 for x in jax.tree.leaves(tree)))


def _mb(n: float) -> str:
  """Bytes for people: 12 kB, 3.4 MB, 1.2 GB."""
  for unit, size in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
    if n >= size:
      return f"{n / size:.1f} {unit}"
  return f"{int(n)} B"


_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
  """'16G' -> 17179869184; a plain integer is bytes."""
  text = text.strip().upper().removesuffix("B")
  unit = text[-1:] if text[-1:] in _SUFFIXES else ""
  try:
    return int(float(text[: len(text) - len(unit)]) * _SUFFIXES[unit])
  except ValueError:
    raise errors.UserError(f"JAXMEM_MEMORY={text!r}: valid: bytes, or a number "
                           "with K, M, G or T") from None


# The cgroup v2 files of the process's memory limit (SLURM jobs, containers).
CGROUP = "/sys/fs/cgroup"


def _cgroup_room() -> int | None:
  """What the process's cgroup (a SLURM job, a container) still allows."""
  try:
    with open(os.path.join(CGROUP, "memory.max")) as f:
      limit = f.read().strip()
    with open(os.path.join(CGROUP, "memory.current")) as f:
      used = int(f.read())
  except (OSError, ValueError):
    return None
  return None if limit == "max" else max(0, int(limit) - used)


def host_memory_available() -> int | None:
  """Host memory a run may plan for: $JAXMEM_MEMORY if set, else the smaller of
  /proc/meminfo's MemAvailable and the cgroup's room (Linux); None if unknown."""
  if os.environ.get("JAXMEM_MEMORY"):
    return parse_bytes(os.environ["JAXMEM_MEMORY"])
  found = []
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          found.append(int(line.split()[1]) * 1024)
  except OSError:
    pass
  room = _cgroup_room()
  if room is not None:
    found.append(room)
  return min(found) if found else None


def device_memory(devices) -> int | None:
  """The memory limit summed over accelerator devices; None on CPU."""
  total = 0
  for d in devices:
    stats = d.memory_stats() if hasattr(d, "memory_stats") else None
    if not stats or "bytes_limit" not in stats:
      return None
    total += stats["bytes_limit"]
  return total


@dataclasses.dataclass(frozen=True)
class Memory:
  """A run's estimated memory, in bytes, by what holds it."""
  num_lanes: int
  # Parameters, BatchNorm statistics, optimizer state, lane constants.
  state_per_lane: int
  accumulators: int  # Per-example accumulators of every lane, on the device.
  host_accumulators: int  # What the host keeps of them (history, checkpoint copies).
  data: int  # The data set (once on each device, once on the host).

  @property
  def device(self) -> int:
    return self.num_lanes * self.state_per_lane + self.accumulators + self.data

  @property
  def host(self) -> int:
    # Checkpoints copy the state and accumulators to the host before saving.
    return (self.num_lanes * (self.state_per_lane + HOST_BYTES_PER_LANE)
            + self.accumulators + self.host_accumulators + self.data)

  def describe(self) -> str:
    return (f"{self.num_lanes} lanes x {_mb(self.state_per_lane)} of state, "
            f"{_mb(self.accumulators + self.host_accumulators)} of per-example accumulators, "
            f"{_mb(self.data)} of data")


def check_memory(memory: Memory, devices, backend: str) -> None:
  """Raises UserError if the run cannot fit in this machine's memory.

  On CPU the devices share the host's memory, so device and host bytes add.
  """
  host = host_memory_available()
  if backend == "cpu":
    need, have, where = memory.device + memory.host, host, "host memory"
  else:
    need, have, where = memory.device, device_memory(devices), "device memory"
    if host is not None and memory.host > USABLE * host:
      need, have, where = memory.host, host, "host memory"
  if have is None or need <= USABLE * have:
    return
  raise errors.UserError(
      f"this run needs about {_mb(need)} of {where} ({memory.describe()}) but "
      f"{_mb(have)} is available; use fewer lanes (config.num_seeds, the grid), "
      "fewer examples or epochs (config.train_size, config.num_epochs), "
      "more devices, or split the seeds over hosts (config.first_seed)")


def check_data(config) -> None:
  """Raises UserError if the synthetic data set asked for cannot fit in memory.

  Named data sets have known sizes; the synthetic one is generated, so an
  absurd size must be refused before it is.
  """
  if config.dataset != "synthetic":
    return
  s = config.synthetic
  need = (int(s.num_train) + int(s.num_test)) * math.prod(s.shape) * 4
  host = host_memory_available()
  if host is not None and need > USABLE * host:
    raise errors.UserError(
        f"config.synthetic asks for {_mb(need)} of data but {_mb(host)} of memory "
        "is available; use fewer examples (num_train, num_test) or a smaller shape")


def free_disk(path) -> int:
  """Free bytes on the filesystem of `path` (its nearest existing parent)."""
  path = os.path.abspath(path)
  while not os.path.exists(path):
    path = os.path.dirname(path)
  return shutil.disk_usage(path).free


def check_disk(path, need: int, what: str) -> None:
  """Raises UserError if `need` bytes will not fit beside `path`.

  Args:
    path: the workdir.
    need: bytes the coming writes need.
    what: what they are, for the message ("the checkpoint of epoch 5").
  """
  free = free_disk(path)
  if need > free:
    raise errors.UserError(
        f"--workdir {path}: {what} needs about {_mb(need)} but its filesystem "
        f"has {_mb(free)} free; free some space (or set a smaller "
        "config.checkpoint_keep), then rerun the same command")
