"""Stacked, immutable index of every model's reduced set for vectorised statistical search.

All reduced sets of one feature dimension are concatenated into one ``(M, d)`` matrix with their
weights and segment offsets, so the squared MMD from a user spec to *every* model is one kernel
block (chunked to bound memory), one matrix-vector product and one segmented sum.  A snapshot is
never mutated: the organizer builds a new one after add/delete and swaps the reference, so a
search running concurrently keeps a consistent view without locks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..spec.kernels import gaussian_kernel
from ..spec.rkme import RKMETableSpec

#: kernel entries computed per chunk (x 8 bytes): bounds peak memory of one search (~128 MiB)
CHUNK_ELEMENTS = 1 << 24


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

    def cross_terms(self, user: RKMETableSpec, gamma: float) -> np.ndarray:
        """``<Phi_i, Phi_user>`` for every model: chunked kernel block, matvec, segmented sum."""
        zu = user.z2d
        v = np.empty(self.Z.shape[0], dtype=np.float64)
        rows = max(1, CHUNK_ELEMENTS // max(1, zu.shape[0]))
        for start in range(0, self.Z.shape[0], rows):
            stop = min(start + rows, self.Z.shape[0])
            v[start:stop] = gaussian_kernel(self.Z[start:stop], zu, gamma) @ user.beta
        return np.add.reduceat(v * self.beta, self.offsets)

    def distances(self, user: RKMETableSpec, gamma: float | None = None) -> np.ndarray:
        """Squared MMD from the user spec to every model of the group."""
        g = user.gamma if gamma is None else gamma
        return self.self_terms(g) - 2.0 * self.cross_terms(user, g) + user.self_inner_prod(g)

    def gram(self, idx: np.ndarray, gamma: float) -> np.ndarray:
        """``<Phi_i, Phi_j>`` among the models at positions ``idx`` (for mixture weights)."""
        parts = [self.specs[i] for i in idx]
        Z = np.concatenate([p.z2d for p in parts])
        b = np.concatenate([p.beta for p in parts])
        offs = np.cumsum([0] + [len(p.beta) for p in parts[:-1]])
        K = gaussian_kernel(Z, Z, gamma) * b[:, None] * b[None, :]
        return np.add.reduceat(np.add.reduceat(K, offs, axis=0), offs, axis=1)


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
