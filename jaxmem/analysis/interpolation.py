"""Exact interpolation without training: Zhang et al. (2017) section 4 and 5.

Theorem 1 of Zhang et al.: a depth-two ReLU network with 2n + d weights,

    c(x) = sum_j w_j relu(<a, x> - b_j),

fits any real labels y of any n distinct points in R^d. The construction (their
Lemma): project the points onto a direction `a` on which they are distinct,
sort the projections z_1 < ... < z_n, put one bias between each pair
(b_1 < z_1 < b_2 < ... < b_n < z_n); then A_ij = relu(z_i - b_j) is lower
triangular with a positive diagonal, and w = A^-1 y. With K classes, w is
[n, K] and y the one-hot labels (d + n + nK weights); the predicted class is
the argmax.

Section 5: the minimum-norm interpolant of a kernel machine, f(x) = sum_i
alpha_i k(x_i, x) with K alpha = y, fits any labels too; its RKHS norm,
sqrt(trace(alpha^T K alpha)), measures how hard the labels were to fit. With
a Gaussian kernel on MNIST pixels Zhang et al. report 1.2% test error.

Both are linear algebra on the host in float64 (numpy), not training: the
systems are ill-conditioned enough that float32 loses the exact fit.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class TwoLayerNet:
  """Zhang et al.'s Theorem 1 network."""
  a: np.ndarray  # float64 [d], the one direction every hidden unit shares
  b: np.ndarray  # float64 [n], one bias per hidden unit
  w: np.ndarray  # float64 [n, K], the output weights

  @property
  def num_weights(self) -> int:
    """d + n + n*K (2n + d for one output)."""
    return self.a.size + self.b.size + self.w.size


def _flat(x: np.ndarray) -> np.ndarray:
  return np.asarray(x, np.float64).reshape(len(x), -1)


def fit_two_layer(x: np.ndarray, y: np.ndarray, seed: int = 0) -> TwoLayerNet:
  """Builds the Theorem 1 network that maps each x_i to y_i exactly.

  Args:
    x: [n, ...] n distinct points (flattened to [n, d]).
    y: [n] or [n, K] real targets (e.g. one-hot labels).
    seed: draws the direction `a` (Gaussian): the projections are then
      distinct with probability one for distinct points.

  Raises:
    ValueError: two points project to the same value (duplicates).
  """
  x = _flat(x)
  y = np.asarray(y, np.float64).reshape(len(x), -1)
  a = np.random.default_rng(seed).standard_normal(x.shape[1])
  z = x @ a
  order = np.argsort(z)
  zs = z[order]
  gaps = np.diff(zs)
  if np.any(gaps <= 0):
    raise ValueError(f"{int(np.sum(gaps <= 0))} pairs of points project to the "
                     "same value: remove duplicate points")
  # b_1 below z_1 by the smallest gap; then each b_j halfway between z_{j-1} and z_j.
  b = np.concatenate([[zs[0] - gaps.min()], (zs[:-1] + zs[1:]) / 2])
  # A is lower triangular: forward substitution, one row at a time, O(n^2).
  w = np.zeros((len(zs), y.shape[1]))
  targets = y[order]
  for i in range(len(zs)):
    row = np.maximum(zs[i] - b[:i], 0.0)
    w[i] = (targets[i] - row @ w[:i]) / (zs[i] - b[i])
  return TwoLayerNet(a=a, b=b, w=w)


def predict_two_layer(net: TwoLayerNet, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
  """[m, K] outputs of the network on x [m, ...]."""
  z = _flat(x) @ net.a
  return np.concatenate([np.maximum(z[i:i + chunk, None] - net.b, 0.0) @ net.w
                         for i in range(0, len(z), chunk)])


def sq_distances(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
  """[n, m] squared Euclidean distances."""
  x1, x2 = _flat(x1), _flat(x2)
  d = (x1 ** 2).sum(1)[:, None] + (x2 ** 2).sum(1)[None] - 2 * x1 @ x2.T
  return np.maximum(d, 0.0)


def median_bandwidth(x: np.ndarray, sample: int = 2000, seed: int = 0) -> float:
  """The median distance between points (over a sample): a common bandwidth."""
  x = _flat(x)
  pick = np.random.default_rng(seed).permutation(len(x))[:sample]
  d = sq_distances(x[pick], x[pick])
  return float(np.sqrt(np.median(d[np.triu_indices(len(pick), 1)])))


def gaussian_kernel(x1: np.ndarray, x2: np.ndarray, bandwidth: float) -> np.ndarray:
  """[n, m] exp(-|x1 - x2|^2 / (2 bandwidth^2))."""
  return np.exp(-sq_distances(x1, x2) / (2.0 * bandwidth ** 2))


@dataclasses.dataclass(frozen=True)
class KernelFit:
  """A minimum-norm kernel interpolant of one or several label sets."""
  x: np.ndarray  # float64 [n, d], the training points
  alpha: np.ndarray  # float64 [n, K], one column per output
  bandwidth: float

  def predict(self, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """[m, K] f(x) = k(x, X) alpha."""
    x = _flat(x)
    return np.concatenate([gaussian_kernel(x[i:i + chunk], self.x, self.bandwidth)
                           @ self.alpha for i in range(0, len(x), chunk)])


def fit_kernel(x: np.ndarray, y: np.ndarray, bandwidth: float) -> tuple[KernelFit, np.ndarray]:
  """Solves K alpha = y exactly (Cholesky of the Gaussian kernel matrix).

  Args:
    x: [n, ...] training points.
    y: [n, K] targets; several label sets can share one factorization as
      column blocks.
    bandwidth: the Gaussian kernel's width.

  Returns:
    The fit, and the RKHS norm of each column's interpolant, sqrt(y_k^T
    alpha_k), float64 [K].
  """
  x = _flat(x)
  y = np.asarray(y, np.float64).reshape(len(x), -1)
  gram = gaussian_kernel(x, x, bandwidth)
  factor = np.linalg.cholesky(gram)
  alpha = np.linalg.solve(factor.T, np.linalg.solve(factor, y))
  norms = np.sqrt(np.maximum((y * alpha).sum(0), 0.0))
  return KernelFit(x=x, alpha=alpha, bandwidth=bandwidth), norms
