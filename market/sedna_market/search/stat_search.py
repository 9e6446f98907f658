"""Statistical search: single-model ranking and mixtures over a stacked :class:`StatIndex`.

Pure computation: takes an index snapshot and a user RKME, returns ranked results.  Distances to
all models come from three vectorised terms; the mixture stage (greedy or auto) solves small
simplex QPs on the top ``max_search_num**2`` candidates only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from ..spec.qp import solve_simplex_qp
from ..spec.rkme import RKMETableSpec
from .scoring import FILTER_SCORE, dist_to_score, filter_single
from .stat_index import DimGroup, StatIndex

GREEDY_DECAY = 0.95
AUTO_WEIGHT_CUTOFF = 0.98


@dataclass
class SingleItem:
    """One model with its squared MMD to the user spec and its score."""

    id: str
    distance: float
    score: float


@dataclass
class MixtureItem:
    """A weighted mixture of models that jointly match the user spec better than any one."""

    ids: list[str]
    weights: list[float]
    distance: float
    score: float


@dataclass
class StatSearchResult:
    """Ranked singles (best first) and at most one mixture."""

    single: list[SingleItem] = field(default_factory=list)
    mixture: MixtureItem | None = None


def rank_single(
    index: StatIndex, user: RKMETableSpec, allowed: Collection[str] | None = None
) -> tuple[DimGroup | None, np.ndarray, np.ndarray]:
    """Positions (in the group) of eligible models sorted by distance, and their distances."""
    group = index.group_for(user)
    if group is None or group.size == 0:
        return None, np.empty(0, dtype=np.int64), np.empty(0)
    d = group.distances(user)
    ok = np.isfinite(d)
    if allowed is not None:
        allowed_set = allowed if isinstance(allowed, set | frozenset) else set(allowed)
        ok &= np.fromiter((i in allowed_set for i in group.ids), dtype=bool, count=group.size)
    pos = np.nonzero(ok)[0]
    # stable sort keeps ties in insertion order, so equal distances rank deterministically
    order = pos[np.argsort(d[pos], kind="stable")]
    return group, order, d[order]


def _mixture_greedy(
    K: np.ndarray, C: np.ndarray, uu: float, max_num: int
) -> tuple[list[int], np.ndarray, float]:
    selected: list[int] = []
    weights = np.ones(0)
    current = np.inf
    for _ in range(min(max_num, len(C))):
        best: tuple[float, int, np.ndarray] | None = None
        for cand in range(len(C)):
            if cand in selected:
                continue
            idx = selected + [cand]
            w, obj = solve_simplex_qp(K[np.ix_(idx, idx)], C[idx])
            mmd = uu + 2.0 * obj
            if best is None or mmd < best[0]:
                best = (mmd, cand, w)
        if best is None:
            break
        if selected and best[0] > GREEDY_DECAY * current:
            break
        current, weights = best[0], best[2]
        selected.append(best[1])
    return selected, weights, float(current)


def _mixture_auto(
    K: np.ndarray, C: np.ndarray, uu: float, max_num: int
) -> tuple[list[int], np.ndarray, float]:
    w, obj = solve_simplex_qp(K, C)
    order = np.argsort(-w, kind="stable")
    cum = np.cumsum(w[order])
    # keep models until the kept weight first reaches the cutoff
    keep = int(np.searchsorted(cum, AUTO_WEIGHT_CUTOFF) + 1)
    chosen = [int(i) for i in order[: min(keep, max_num)]]
    if len(chosen) <= 1:
        return chosen[:1], np.ones(1), float(uu + 2.0 * obj)
    w2, obj2 = solve_simplex_qp(K[np.ix_(chosen, chosen)], C[chosen])
    return chosen, w2, float(uu + 2.0 * obj2)


def stat_search(
    index: StatIndex,
    user: RKMETableSpec,
    allowed: Collection[str] | None = None,
    max_search_num: int = 5,
    search_method: str = "greedy",
    min_num: int = 1,
) -> StatSearchResult:
    """Rank models by squared MMD to ``user`` and look for a better mixture.

    ``allowed`` restricts the candidates (semantic survivors); ``search_method`` is ``greedy`` or
    ``auto``.  Scores follow learnware's conversion so they read the same to its users.
    """
    if search_method not in ("greedy", "auto"):
        raise ValueError(f"unknown search_method {search_method!r}")
    if not np.isfinite(user.self_inner_prod()):
        raise ValueError("user specification has a non-finite self distance")
    group, order, dists = rank_single(index, user, allowed)
    if group is None or len(order) == 0:
        return StatSearchResult()

    mixture: tuple[list[str], list[float], float] | None = None
    if dists[0] > 0 and max_search_num > 1 and len(order) > 1:
        cand = order[: max_search_num**2]
        gamma = user.gamma
        K = group.gram(cand, gamma)
        uu = user.self_inner_prod(gamma)
        # <Phi_user, Phi_i> recovered from the distances already computed: no second kernel pass
        C = (group.self_terms(gamma)[cand] + uu - dists[: len(cand)]) / 2.0
        pick = _mixture_greedy if search_method == "greedy" else _mixture_auto
        sel, w, mdist = pick(K, C, uu, max_search_num)
        if len(sel) > 1:
            mixture = ([group.ids[cand[i]] for i in sel], [float(x) for x in w], max(mdist, 0.0))

    all_d = np.append(dists, mixture[2]) if mixture else dists
    scores = dist_to_score(all_d)
    single_scores = scores[: len(dists)]
    mix_score = float(scores[-1]) if mixture else 0.0
    if mixture and int(100 * mix_score) == int(100 * single_scores[0]):
        mixture = None

    keep = filter_single(single_scores, min_num)
    single_scores = single_scores[:keep].copy()
    if keep == 1 and single_scores[0] < FILTER_SCORE:
        factor = FILTER_SCORE / single_scores[0] if single_scores[0] > 1e-12 else 100.0
        single_scores[0] = FILTER_SCORE
        mix_score = min(1.0, mix_score * factor)
    single = [
        SingleItem(group.ids[order[i]], float(dists[i]), float(single_scores[i])) for i in range(keep)
    ]
    mix_item = MixtureItem(mixture[0], mixture[1], mixture[2], mix_score) if mixture else None
    return StatSearchResult(single=single, mixture=mix_item)
