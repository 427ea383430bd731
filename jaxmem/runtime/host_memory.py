"""Handing freed host memory back to the operating system.

glibc's malloc keeps memory that large arrays were freed from, in arenas
per thread, for reuse. A run that copies its state to the host for a
background checkpoint save every few epochs, from another thread each time,
then keeps growing its resident memory, though nothing live grows: in the
setup of scripts/bench_records.py (1,024 lanes x 50,000 examples) by 100-200
MB per save.
`release` returns what is free, so resident memory tracks what the run holds.
"""

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
  """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
  name = ctypes.util.find_library("c")
  try:
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
  except OSError:
    return None


def release() -> bool:
  """Returns the free memory of every malloc arena to the OS; cheap next to an
  epoch (it walks the arenas' free lists). True where something was returned."""
  trim = _malloc_trim()
  return bool(trim(0)) if trim is not None else False
