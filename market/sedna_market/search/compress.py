"""Compress a user's embedding to a few points, with the exact RKHS error of the compression.

Used to prune a top-k ranking: if ``Phi'`` (``m`` points) approximates the user's ``Phi_u`` with
``||Phi_u - Phi'||_H <= eps``, then for every model, by the triangle inequality of the RKHS norm,
``| ||Phi_i - Phi_u|| - ||Phi_i - Phi'|| | <= eps``: distances computed against ``Phi'`` (``m``
kernel columns instead of ``K``) bracket the true ones, and only the models whose interval can
reach the top ``k`` need the full computation.
"""

from __future__ import annotations

import numpy as np

from ..spec.kernels import gaussian_kernel


def _farthest_first(P: np.ndarray, w: np.ndarray, m: int) -> np.ndarray:
    """Indices of ``m`` well-spread points: the heaviest, then repeatedly the farthest."""
    chosen = [int(np.argmax(np.abs(w)))]
    d = np.einsum("ij,ij->i", P - P[chosen[0]], P - P[chosen[0]])
    for _ in range(1, m):
        nxt = int(np.argmax(d * (np.abs(w) + 1e-12)))
        chosen.append(nxt)
        diff = P - P[nxt]
        d = np.minimum(d, np.einsum("ij,ij->i", diff, diff))
    return np.array(chosen)


def compress_embedding(
    points: np.ndarray, weights: np.ndarray, gamma: float, m: int, lloyd_steps: int = 2
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """``(centres (m, d), weights (m,), eps, <Phi', Phi'>)`` with ``eps = ||Phi - Phi'||_H``
    computed exactly (plus a rounding margin).

    Centres: farthest-first seeding and ``lloyd_steps`` weighted k-means steps; weights: least
    squares in the RKHS (a ridge keeps them bounded), falling back to the clusters' masses when
    that is not better.
    """
    P = np.asarray(points, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    m = min(m, len(P))
    C = P[_farthest_first(P, w, m)].copy()
    aw = np.abs(w) + 1e-12
    for _ in range(lloyd_steps):
        lab = np.argmin(((P[:, None, :] - C[None, :, :]) ** 2).sum(-1), axis=1)
        for c in range(m):
            sel = lab == c
            if sel.any():
                C[c] = (aw[sel, None] * P[sel]).sum(0) / aw[sel].sum()
    lab = np.argmin(((P[:, None, :] - C[None, :, :]) ** 2).sum(-1), axis=1)
    Kpp = gaussian_kernel(P, P, gamma)
    Kcc = gaussian_kernel(C, C, gamma)
    b = gaussian_kernel(C, P, gamma) @ w
    uu = float(w @ Kpp @ w)

    def err2(v: np.ndarray) -> float:
        return uu - 2.0 * float(v @ b) + float(v @ Kcc @ v)

    mass = np.bincount(lab, weights=w, minlength=m).astype(np.float64)
    best, best_e = mass, err2(mass)
    try:
        ls = np.linalg.solve(Kcc + 1e-8 * np.eye(m), b)
        if np.all(np.isfinite(ls)) and np.abs(ls).sum() <= 4.0 * np.abs(w).sum():
            e = err2(ls)
            if e < best_e:
                best, best_e = ls, e
    except np.linalg.LinAlgError:
        pass
    # the expansion rounds in float64: widen by a few ulps of its terms
    slack = 64.0 * np.finfo(np.float64).eps * (abs(uu) + np.abs(best).sum() * (np.abs(w).sum() + np.abs(best).sum()))
    return C, best, float(np.sqrt(max(best_e, 0.0) + slack)), float(best @ Kcc @ best)
