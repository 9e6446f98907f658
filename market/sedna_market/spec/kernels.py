"""Gaussian kernel helpers (pure numpy, float64)."""

from __future__ import annotations

import numpy as np


def sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, clipped at 0 (the expansion can go slightly negative)."""
    a2 = np.einsum("ij,ij->i", a, a)[:, None]
    b2 = np.einsum("ij,ij->i", b, b)[None, :]
    d = a2 + b2 - 2.0 * (a @ b.T)
    np.maximum(d, 0.0, out=d)
    return d


def gaussian_kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """``k(x, y) = exp(-gamma * ||x - y||^2)`` for every row pair of ``a`` and ``b``."""
    d = sq_dists(a, b)
    d *= -gamma
    return np.exp(d, out=d)
