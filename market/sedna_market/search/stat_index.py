"""Stacked, immutable index of every model's reduced set for vectorised statistical search.

All reduced sets of one feature dimension are concatenated into one ``(M, d)`` matrix with their
weights and segment offsets, so the squared MMD from a user spec to *every* model is one kernel
block (chunked to bound memory), one matrix-vector product and one segmented sum.  A snapshot is
never mutated: the organizer builds a new one after add/delete and swaps the reference, so a
search running concurrently keeps a consistent view without locks.

Derived data are built lazily, once per snapshot: self terms per gamma, ``|z|^2`` and a float32
augmented mirror for the fast ranking pass (:mod:`.blocked`), per-model weight masses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..spec.rkme import RKMETableSpec
from .blocked import Mirror32, relative_error_bound, segment_kernel_sums, weighted_kernel_sums

#: kernel entries per float64 block of the exact re-score (x 8 bytes: 512 KiB, stays in L2)
CHUNK_ELEMENTS = 1 << 16
#: kernel entries per block of the mixture Gram matrix (x 8 bytes: stays in cache)
GRAM_BLOCK_ELEMENTS = 1 << 17


@dataclass
class DimGroup:
    """Models sharing one feature shape (learnware requires equal ``z.shape[1:]``)."""

    ids: list[str]
    specs: list[RKMETableSpec]
    Z: np.ndarray  # (M, d) all reduced points
    beta: np.ndarray  # (M,)
    offsets: np.ndarray  # (N,) start row of each model
    _self_cache: dict[float, np.ndarray] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _derived: dict[str, object] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.ids)

    def self_terms(self, gamma: float) -> np.ndarray:
        """``<Phi_i, Phi_i>`` for every model under ``gamma`` (computed once per gamma)."""
        cached = self._self_cache.get(gamma)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._self_cache.get(gamma)
            if cached is None:
                cached = np.array([s.self_inner_prod(gamma) for s in self.specs], dtype=np.float64)
                self._self_cache[gamma] = cached
        return cached

    def _once(self, key: str, build: Callable[[], object]) -> object:
        value = self._derived.get(key)
        if value is None:
            with self._lock:
                value = self._derived.get(key)
                if value is None:
                    value = build()
                    self._derived[key] = value
        return value

    @property
    def lengths(self) -> np.ndarray:
        """Reduced-set size of every model."""
        return self._once("lengths", lambda: np.diff(np.r_[self.offsets, self.Z.shape[0]]))  # type: ignore[return-value]

    @property
    def sq_norms(self) -> np.ndarray:
        """Cached ``|z|^2`` of every stacked point."""
        return self._once("sq", lambda: np.einsum("ij,ij->i", self.Z, self.Z))  # type: ignore[return-value]

    @property
    def masses(self) -> np.ndarray:
        """``sum |beta|`` of every model (bounds its kernel sums)."""
        return self._once("mass", lambda: np.add.reduceat(np.abs(self.beta), self.offsets))  # type: ignore[return-value]

    def mirror32(self) -> Mirror32:
        """float32 augmented copy of ``Z`` for the fast ranking pass."""
        return self._once("mirror32", lambda: Mirror32.build(self.Z, self.beta))  # type: ignore[return-value]

    @property
    def max_norms(self) -> np.ndarray:
        """Per model, the largest ``|z - centre|`` of its points (centre of the float32 mirror)."""
        return self._once(  # type: ignore[return-value]
            "max_norms", lambda: np.maximum.reduceat(self.mirror32().norms, self.offsets)
        )

    def per_model(self, v: np.ndarray) -> np.ndarray:
        """Segmented sum of per-point values into per-model float64 values."""
        lens = self.lengths
        if len(lens) and np.all(lens == lens[0]):
            return v.reshape(len(lens), int(lens[0])).sum(axis=1, dtype=np.float64)
        return np.add.reduceat(v.astype(np.float64), self.offsets)

    def rows_of(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacked rows of the models at ``positions`` and each model's start within them."""
        positions = np.asarray(positions, dtype=np.int64)
        lens = self.lengths[positions]
        seg = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
        rows = np.repeat(self.offsets[positions] - seg, lens) + np.arange(int(lens.sum()))
        return rows, seg

    def approx_cross_terms(
        self, points: np.ndarray, weights: np.ndarray, gamma: float, positions: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``<Phi_i, sum_j w_j phi(p_j)>`` for every model (or those at ``positions``),
        and a bound on each value's absolute error."""
        mirror = self.mirror32()
        wsum = float(np.abs(weights).sum())
        if positions is None or 2 * len(positions) > self.size:  # most models: no gather copy
            v, p_norm = weighted_kernel_sums(mirror, points, weights, gamma)
            rel = relative_error_bound(self.max_norms, p_norm, gamma, self.Z.shape[1], len(weights))
            c, err = self.per_model(v), rel * self.masses * wsum
            return (c, err) if positions is None else (c[positions], err[positions])
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return np.empty(0), np.empty(0)
        rows, seg = self.rows_of(positions)
        v, p_norm = weighted_kernel_sums(mirror, points, weights, gamma, rows=rows)
        rel = relative_error_bound(self.max_norms[positions], p_norm, gamma, self.Z.shape[1], len(weights))
        return np.add.reduceat(v.astype(np.float64), seg), rel * self.masses[positions] * wsum

    def approx_columns(
        self, points: np.ndarray, gamma: float, positions: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``<Phi_i, k(p_j, .)>`` for every model ``i`` (or those at ``positions``) and each
        of the few points ``p_j`` (one row per model), and a bound on each entry's absolute error."""
        mirror = self.mirror32()
        at = np.arange(self.size) if positions is None else np.asarray(positions, dtype=np.int64)
        if positions is None or 2 * len(at) > self.size:
            V, p_norm = segment_kernel_sums(mirror, points, gamma, self.offsets)
            V = V if positions is None else V[at]
        else:
            rows, seg = self.rows_of(at)
            V, p_norm = segment_kernel_sums(mirror, points, gamma, seg, rows=rows)
        k = int(self.lengths[at].max()) if len(at) else 1
        rel = relative_error_bound(self.max_norms[at], p_norm, gamma, self.Z.shape[1], k)
        return V, rel * self.masses[at]

    def _exact_rows(self, rows: np.ndarray | slice, zu: np.ndarray, wu: np.ndarray, gamma: float) -> np.ndarray:
        """float64 ``beta_i sum_j w_j k(z_i, u_j)`` for the given stacked rows (blocked, in place)."""
        Z, z2, beta = self.Z[rows], self.sq_norms[rows], self.beta[rows]
        u2 = np.einsum("ij,ij->i", zu, zu)
        v = np.empty(Z.shape[0], dtype=np.float64)
        step = max(1, CHUNK_ELEMENTS // max(1, zu.shape[0]))
        for start in range(0, Z.shape[0], step):
            stop = min(start + step, Z.shape[0])
            d = _kernel_block(Z[start:stop], z2[start:stop], zu, u2, gamma)
            v[start:stop] = d @ wu
        v *= beta
        return v

    def cross_terms(self, user: RKMETableSpec, gamma: float) -> np.ndarray:
        """``<Phi_i, Phi_user>`` for every model (float64): blocked kernel, matvec, segmented sum."""
        return self.per_model(self._exact_rows(slice(None), user.z2d, user.beta, gamma))

    def cross_terms_of(self, positions: np.ndarray, user: RKMETableSpec, gamma: float) -> np.ndarray:
        """float64 ``<Phi_i, Phi_user>`` of the models at ``positions`` only (exact re-scoring)."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) == 0:
            return np.empty(0)
        rows, seg = self.rows_of(positions)
        return np.add.reduceat(self._exact_rows(rows, user.z2d, user.beta, gamma), seg)

    def distances(self, user: RKMETableSpec, gamma: float | None = None) -> np.ndarray:
        """Squared MMD from the user spec to every model of the group."""
        g = user.gamma if gamma is None else gamma
        return self.self_terms(g) - 2.0 * self.cross_terms(user, g) + user.self_inner_prod(g)

    def gram(self, idx: np.ndarray, gamma: float) -> np.ndarray:
        """``<Phi_i, Phi_j>`` among the models at positions ``idx`` (for mixture weights).

        ``B^T K B`` with ``B`` the block matrix holding each model's ``beta`` in its column: the
        kernel is built in row blocks (cached ``|z|^2``, in-place ops) and folded by two matrix
        products, never scaled or segment-summed as a full matrix.  ``K`` is symmetric, so each
        row block is paired only with itself and the rows after it (half the ``exp`` calls), the
        part past the block counted twice through its transpose.
        """
        idx = np.asarray(idx, dtype=np.int64)
        n = len(idx)
        if n == 0:
            return np.empty((0, 0))
        rows, _ = self.rows_of(idx)
        Z, z2 = self.Z[rows], self.sq_norms[rows]
        B = np.zeros((len(rows), n))
        B[np.arange(len(rows)), np.repeat(np.arange(n), self.lengths[idx])] = self.beta[rows]
        out = np.zeros((n, n))
        step = max(1, GRAM_BLOCK_ELEMENTS // max(1, len(rows)))
        for start in range(0, len(rows), step):
            stop = min(start + step, len(rows))
            d = _kernel_block(Z[start:stop], z2[start:stop], Z[start:], z2[start:], gamma)
            block = B[start:stop].T
            out += block @ (d[:, : stop - start] @ B[start:stop])
            if stop < len(rows):
                off = block @ (d[:, stop - start :] @ B[stop:])
                out += off + off.T
        return (out + out.T) / 2.0  # exactly symmetric for the QP


def _kernel_block(A: np.ndarray, a2: np.ndarray, B: np.ndarray, b2: np.ndarray, gamma: float) -> np.ndarray:
    """float64 ``exp(-gamma ||a_i - b_j||^2)`` for rows ``A`` and ``B`` with their cached squared
    norms ``a2``, ``b2``: one product, the rest in place (rounding clamped at 0)."""
    d = A @ B.T
    d *= -2.0
    d += a2[:, None]
    d += b2[None, :]
    np.maximum(d, 0.0, out=d)
    d *= -gamma
    np.exp(d, out=d)
    return d


class StatIndex:
    """Immutable snapshot: feature shape -> stacked group."""

    def __init__(self, items: Iterable[tuple[str, RKMETableSpec]]) -> None:
        by_dim: dict[tuple[int, ...], list[tuple[str, RKMETableSpec]]] = {}
        for mid, spec in items:
            by_dim.setdefault(spec.feature_shape, []).append((mid, spec))
        self.groups: dict[tuple[int, ...], DimGroup] = {}
        for dim, members in by_dim.items():
            specs = [s for _, s in members]
            lens = np.array([len(s.beta) for s in specs])
            offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
            self.groups[dim] = DimGroup(
                ids=[m for m, _ in members],
                specs=specs,
                Z=np.ascontiguousarray(np.concatenate([s.z2d for s in specs])),
                beta=np.concatenate([s.beta for s in specs]),
                offsets=offsets,
            )

    def __len__(self) -> int:
        return sum(g.size for g in self.groups.values())

    def group_for(self, spec: RKMETableSpec) -> DimGroup | None:
        """The group whose feature shape matches the user spec, if any."""
        return self.groups.get(spec.feature_shape)
