"""A small RKHS subspace around a user's embedding, for lower and upper bounds on every distance.

Used to prune a top-k ranking.  ``V`` is spanned by the kernel functions of ``m`` well-spread
points ``c_j`` of the user's reduced set, with an orthonormal basis ``psi = T^T k(c, .)`` from the
eigen-decomposition of ``K(c, c)`` (only well-conditioned directions are kept, so float32
errors in the model side are not blown up).  For any model embedding ``Phi_i``, split along ``V``:

    ||Phi_i - Phi_u||^2 = |a_i - b|^2 + ||P_perp Phi_i - P_perp Phi_u||^2

with ``a_i = T^T [<Phi_i, k(c_j, .)>]_j`` (``m`` kernel columns per model point instead of the
user's 100) and ``b`` the user's coordinates.  The second term lies between ``(r_i - r_u)^2`` and
``(r_i + r_u)^2``, where ``r^2 = <Phi, Phi> - |coordinates|^2`` is the part outside ``V`` (both self
terms are known).  That is Bessel's inequality plus the triangle inequality: exact bounds, never an
estimate, and at least as tight as bracketing by the distance to a compressed user embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec.kernels import gaussian_kernel, sq_dists

#: eigen-directions of ``K(c, c)`` below this fraction of the largest are dropped: the basis then
#: amplifies the model side's float32 errors by at most ``1 / sqrt(CUTOFF * lambda_max)``
CUTOFF = 1e-3
_EPS = float(np.finfo(np.float64).eps)


def well_spread(P: np.ndarray, w: np.ndarray, m: int, lloyd_steps: int = 2) -> np.ndarray:
    """``m`` centres: the heaviest point, then repeatedly the farthest (weighted), then
    ``lloyd_steps`` weighted k-means steps."""
    aw = np.abs(w) + 1e-12
    chosen = [int(np.argmax(aw))]
    d = np.einsum("ij,ij->i", P - P[chosen[0]], P - P[chosen[0]])
    for _ in range(1, m):
        nxt = int(np.argmax(d * aw))
        chosen.append(nxt)
        diff = P - P[nxt]
        d = np.minimum(d, np.einsum("ij,ij->i", diff, diff))
    C = P[chosen].copy()
    for _ in range(lloyd_steps):
        lab = np.argmin(sq_dists(P, C), axis=1)
        mass = np.bincount(lab, weights=aw, minlength=m)
        sums = np.zeros_like(C)
        np.add.at(sums, lab, aw[:, None] * P)
        hit = mass > 0
        C[hit] = sums[hit] / mass[hit, None]
    return C


@dataclass(frozen=True)
class Subspace:
    """An orthonormal basis of (part of) ``span{k(c_j, .)}`` and the user's split along it."""

    centres: np.ndarray  # (m, d)
    T: np.ndarray  # (m, r): coordinates of f are T^T [<f, k(c_j, .)>]_j
    norm_T: float  # spectral norm of T (amplification of errors in those inner products)
    b: np.ndarray  # (r,) the user's coordinates
    r_lo: float  # the user's part outside V, bracketed to cover float64 rounding
    r_hi: float

    @classmethod
    def around(cls, points: np.ndarray, weights: np.ndarray, gamma: float, m: int, self_ip: float) -> Subspace:
        """The subspace of ``m`` well-spread points of the user's reduced set ``(points, weights)``;
        ``self_ip``: the user's ``<Phi_u, Phi_u>`` under ``gamma`` (the spec caches it)."""
        P = np.asarray(points, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        C = well_spread(P, w, min(m, len(P)))
        lam, U = np.linalg.eigh(gaussian_kernel(C, C, gamma))
        keep = lam > CUTOFF * lam[-1]
        T = U[:, keep] / np.sqrt(lam[keep])
        b = T.T @ (gaussian_kernel(C, P, gamma) @ w)
        uu = float(self_ip)
        bb = float(b @ b)
        # eigh's residuals and the products round at the level of eps times the condition number
        slack = 1e3 * _EPS / CUTOFF * (abs(uu) + bb)
        r_lo = float(np.sqrt(max(uu - bb - slack, 0.0)))
        r_hi = float(np.sqrt(max(uu - bb + slack, 0.0)))
        return cls(C, T, float(1.0 / np.sqrt(lam[keep].min())), b, r_lo, r_hi)

    def bounds(self, V: np.ndarray, err: np.ndarray, selfs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds on ``||Phi_i - Phi_u||^2`` for each model ``i``.

        ``V[i, j]``: ``<Phi_i, k(c_j, .)>`` as computed, each entry within ``err[i]`` of the true
        value; ``selfs[i]``: ``<Phi_i, Phi_i>``.
        """
        A = np.asarray(V, dtype=np.float64) @ self.T
        delta = self.norm_T * np.sqrt(V.shape[1]) * err  # bound on |A_i - true A_i|
        par = np.linalg.norm(A - self.b, axis=1)
        an = np.linalg.norm(A, axis=1)
        r_hi = np.sqrt(np.clip(selfs - np.clip(an - delta, 0.0, None) ** 2, 0.0, None))
        r_lo = np.sqrt(np.clip(selfs - (an + delta) ** 2, 0.0, None))
        gap = np.maximum(np.maximum(r_lo - self.r_hi, self.r_lo - r_hi), 0.0)
        # Bessel's inequality holds for the computed basis up to its rounding: a relative slack
        slack = 1e3 * _EPS / CUTOFF * (np.abs(selfs) + self.r_hi**2 + float(self.b @ self.b))
        lo = np.clip(par - delta, 0.0, None) ** 2 + gap**2 - slack
        hi = (par + delta) ** 2 + (r_hi + self.r_hi) ** 2 + slack
        return lo, hi
