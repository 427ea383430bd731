"""host_memory.release hands memory freed in other threads back to the OS."""

import threading

from jaxmem.runtime import host_memory


def _resident_mb() -> float:
  with open("/proc/self/status") as f:
    line = next(line for line in f if line.startswith("VmRSS"))
  return int(line.split()[1]) / 1024


def test_release_returns_what_a_thread_freed():
  if host_memory._malloc_trim() is None:  # pylint: disable=protected-access
    assert host_memory.release() is False  # No glibc: nothing to call.
    return
  held = []
  # Blocks of 64 KB stay under malloc's mmap threshold; every other one is
  # kept, so the freed ones are holes in the thread's arena that malloc does
  # not give back by itself, as with a background save's copies.
  worker = threading.Thread(target=lambda: held.extend(bytearray(65536)
                                                       for _ in range(4000)))
  worker.start()
  worker.join()
  del worker, held[::2]
  before = _resident_mb()
  host_memory.release()
  after = _resident_mb()
  assert before - after > 60, (before, after)  # 2,000 x 64 KB = 125 MB freed.
