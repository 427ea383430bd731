"""Why jaxmem's convolutions are matmuls on CPU: a convolution inside lax.scan.

Times 4 SGD steps on one 5x5, 64->64 convolution (batch 128, 14x14, small
AlexNet's second layer), forward and weight gradient, as XLA's convolution and
as jaxmem.models.layers.patch_conv (shifted slices and one matmul), each unrolled at
the top level and inside a `lax.scan` (as a jaxmem epoch runs its steps).
Median of 3 after a warm-up.

  python scripts/bench_conv_in_scan.py
"""

import statistics
import time

import jax
import jax.numpy as jnp

from jaxmem.models import layers


def main() -> None:
  x = jax.random.normal(jax.random.PRNGKey(0), (128, 14, 14, 64))
  k = jax.random.normal(jax.random.PRNGKey(1), (5, 5, 64, 64))
  convs = {
      "xla conv": lambda x, k: jax.lax.conv_general_dilated(
          x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")),
      "patch_conv": lambda x, k: layers.patch_conv(x, k, (1, 1), "SAME"),
  }
  print(f"backend {jax.default_backend()}, jax {jax.__version__}; ms per 4 steps")
  for name, conv in convs.items():
    grad = jax.grad(lambda k: jnp.sum(conv(x, k) ** 2))
    body = lambda k, _: (k - 1e-6 * grad(k), None)
    for where, unroll in (("top level (unrolled)", True), ("inside lax.scan", 1)):
      f = jax.jit(lambda k: jax.lax.scan(body, k, None, length=4, unroll=unroll)[0])
      f(k).block_until_ready()
      times = []
      for _ in range(3):
        start = time.perf_counter()
        f(k).block_until_ready()
        times.append(time.perf_counter() - start)
      print(f"{name:12s} {where:22s} {1000 * statistics.median(times):9.1f}")


if __name__ == "__main__":
  main()
