"""Statistical search: single-model ranking and mixtures over a stacked :class:`StatIndex`.

Pure computation: takes an index snapshot and a user RKME, returns ranked results.  Distances to
all models come from three vectorised terms (a float32 blocked pass, then an exact float64
re-score of the models that can be at the head); the mixture stage (greedy or auto) solves small
simplex QPs on the top ``max_search_num**2`` candidates only.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from ..spec.qp import solve_simplex_qp
from ..spec.rkme import RKMETableSpec
from ..spec.stat_types import spec_kind
from .blocked import single_threaded_blas
from .scoring import FILTER_SCORE, dist_to_score, filter_single
from .stat_index import DimGroup, StatIndex
from .subspace import Subspace

GREEDY_DECAY = 0.95
AUTO_WEIGHT_CUTOFF = 0.98
#: models whose distance is re-scored in float64 after the float32 pass (stat_search asks for
#: max_search_num**2 when it looks for a mixture)
EXACT_HEAD = 8
#: a whole ranking re-scores in float64 the neighbours whose float32 distances are closer than
#: this many times the largest float32 error seen on the exact head
NEAR_TIE_FACTOR = 2.0
#: points of the user's reduced set whose kernel functions span the subspaces that prune a top-k
#: ranking (:mod:`.subspace`), one stage each: on a genuine 10,000-model market (d = 10), 8 columns
#: per model point leave a median 2.8 % of the models (up to 31 %) for top-5; 32 columns on those
#: leave 0.6 % (up to 5.5 %)
PRUNE_STAGES = (8, 32)
#: a later stage runs only when more models than this survive the one before
STAGE_MIN_SURVIVORS = 256
#: a top-k ranking is pruned only when the full pass has at least this many kernel entries (below
#: it the pass costs about as much as the subspace, the bounds and the gathers that pruning adds:
#: at 1,000 genuine models, 10^7 entries, pruning takes 5-6 ms against 7-8 ms; at 250, even)
PRUNE_MIN_ENTRIES = 1 << 22


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


#: per index group (by identity, dropped with the group): the kind of every model and whether
#: they all share one, so the common single-kind market pays no per-search filtering cost
_kinds: dict[int, tuple[weakref.ref[DimGroup], list[tuple[str, str | None]], bool]] = {}
_kinds_lock = threading.Lock()


def kind_mask(group: DimGroup, user: RKMETableSpec) -> np.ndarray | None:
    """Which models of ``group`` a user spec may be compared with: same spec type (table, text,
    image, ...) and same encoder; ``None`` when that is all of them.  The index groups models by
    feature shape only, so a 384-column table and a 384-d text spec share a group."""
    key = id(group)
    entry = _kinds.get(key)
    if entry is None or entry[0]() is not group:
        kinds = [spec_kind(s) for s in group.specs]

        def forget(_ref: weakref.ref[DimGroup], k: int = key) -> None:
            _kinds.pop(k, None)

        entry = (weakref.ref(group, forget), kinds, len(set(kinds)) <= 1)
        with _kinds_lock:
            _kinds[key] = entry
    _, kinds, single = entry
    want = spec_kind(user)
    if single and (not kinds or kinds[0] == want):
        return None
    return np.fromiter((k == want for k in kinds), dtype=bool, count=len(kinds))


def _sort(positions: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Order of ``values``; ties keep ascending ``positions``, so equal distances rank
    deterministically (a stable sort when the positions are already ascending)."""
    if len(positions) < 2 or np.all(positions[1:] > positions[:-1]):
        return np.argsort(values, kind="stable")
    return np.lexsort((positions, values))


def _refine(
    group: DimGroup, user: RKMETableSpec, pos: np.ndarray, approx: np.ndarray, err: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 distances for every model that can be among the ``k`` nearest.

    ``approx[i] +- err[i]`` brackets the true distance of model ``i``; ``tau`` is the ``k``-th
    smallest upper end, so every model whose lower end exceeds ``tau`` is farther than ``k`` models
    and needs no exact distance.  Returns the candidates (positions) and their exact distances.
    """
    upper = approx[pos] + err[pos]
    tau = float(np.partition(upper, k - 1)[k - 1])
    cand = pos[approx[pos] - err[pos] <= tau]
    return cand, _exact_distances(group, user, cand)


def rank_single(
    index: StatIndex,
    user: RKMETableSpec,
    allowed: Collection[str] | None = None,
    top: int | None = None,
    exact_head: int = EXACT_HEAD,
) -> tuple[DimGroup | None, np.ndarray, np.ndarray]:
    """Positions (in the group) of eligible models sorted by distance, and their distances.

    Eligible: in ``allowed`` (when given) and of the user spec's kind (:func:`kind_mask`).

    Without ``top``: every eligible model; a float32 pass ranks all of them and the first
    ``exact_head`` (default :data:`EXACT_HEAD`) are re-scored in float64: their order and
    distances are exact; the tail's distances carry float32 rounding, bounded and tiny, and tail
    neighbours closer than that rounding are re-scored in float64 (:func:`_settle_near_ties`), so
    the whole order is float64's.  With ``top``: only the ``top`` nearest, all exact; exact bounds
    on every distance from a small subspace around the user's embedding (:func:`_prune`) leave
    only the models that can reach the top for the full pass and the exact re-score (for searches
    of at least :data:`PRUNE_MIN_ENTRIES` kernel entries; smaller ones take the full pass).
    """
    group = index.group_for(user)
    if group is None or group.size == 0:
        return None, np.empty(0, dtype=np.int64), np.empty(0)
    with single_threaded_blas():
        order, dists = _rank(group, user, allowed, top, exact_head)
    return group, order, dists


def _rank(
    group: DimGroup, user: RKMETableSpec, allowed: Collection[str] | None, top: int | None, exact_head: int
) -> tuple[np.ndarray, np.ndarray]:
    empty = (np.empty(0, dtype=np.int64), np.empty(0))
    gamma = user.gamma
    selfs = group.self_terms(gamma)
    ok = np.isfinite(selfs)
    same_kind = kind_mask(group, user)
    if same_kind is not None:
        ok &= same_kind
    if allowed is not None:
        allowed_set = allowed if isinstance(allowed, set | frozenset) else set(allowed)
        ok &= np.fromiter((i in allowed_set for i in group.ids), dtype=bool, count=group.size)
    uu = user.self_inner_prod(gamma)
    pos = np.nonzero(ok)[0]
    k = min(len(pos), top if top is not None else exact_head)
    if k <= 0:
        return empty
    subset: np.ndarray | None = None
    entries = int(group.lengths[pos].sum()) * len(user.beta)
    if top is not None and len(user.beta) > 2 * PRUNE_STAGES[0] and len(pos) > k and entries >= PRUNE_MIN_ENTRIES:
        pos = _prune(group, user, pos, k)
        subset = pos
    c, err = group.approx_cross_terms(user.z2d, user.beta, gamma, positions=subset)
    approx = np.full(group.size, np.inf)
    bound = np.zeros(group.size)
    at = np.arange(group.size) if subset is None else subset
    approx[at] = selfs[at] + uu - 2.0 * c
    bound[at] = 2.0 * err
    pos = pos[np.isfinite(approx[pos])]
    k = min(len(pos), k)
    if k == 0:
        return empty
    cand, exact = _refine(group, user, pos, approx, bound, k)
    if top is not None:
        order = _sort(cand, exact)[:k]
        return cand[order], exact[order]
    values = approx.copy()
    values[cand] = exact
    order = pos[_sort(pos, values[pos])]
    return _settle_near_ties(group, user, order, values, approx, cand, exact)


def _exact_distances(group: DimGroup, user: RKMETableSpec, positions: np.ndarray) -> np.ndarray:
    gamma = user.gamma
    return (
        group.self_terms(gamma)[positions]
        + user.self_inner_prod(gamma)
        - 2.0 * group.cross_terms_of(positions, user, gamma)
    )


def _settle_near_ties(
    group: DimGroup,
    user: RKMETableSpec,
    order: np.ndarray,
    values: np.ndarray,
    approx: np.ndarray,
    cand: np.ndarray,
    exact: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-score in float64 the tail models whose float32 distance is within
    :data:`NEAR_TIE_FACTOR` times the float32 error seen on the exact head of a neighbour's, and
    re-sort: a whole ranking then orders near-ties as float64 does.

    The bound :func:`_refine` uses is rigorous but 3-6 orders of magnitude above the actual
    rounding, so it cannot pick the near-ties; the head's observed error can.  On genuine specs the
    head's error is the largest in the ranking (the nearest models have the largest kernel values),
    and the pairs float32 misorders are 10-50x closer than it.
    """
    if len(order) < 2 or len(cand) == 0:
        return order, values[order]
    seen = float(np.max(np.abs(approx[cand] - exact)))
    v = values[order]
    close = np.nonzero(np.diff(v) <= NEAR_TIE_FACTOR * seen)[0]
    if len(close) == 0:
        return order, v
    flagged = np.zeros(len(values), dtype=bool)
    flagged[order[close]] = True
    flagged[order[close + 1]] = True
    flagged[cand] = False  # already exact
    redo = np.nonzero(flagged)[0]
    if len(redo) == 0:
        return order, v
    values[redo] = _exact_distances(group, user, redo)
    # nearly sorted already: a stable sort is linear here, and equal values keep the order by
    # position they already have
    order = order[np.argsort(values[order], kind="stable")]
    return order, values[order]


def _prune(group: DimGroup, user: RKMETableSpec, pos: np.ndarray, k: int) -> np.ndarray:
    """Models (positions) that can be among the ``k`` nearest, from exact bounds on every distance
    (:class:`.subspace.Subspace`: a few kernel columns per model point instead of the user's whole
    reduced set, float32 errors included), in :data:`PRUNE_STAGES`: a cheap subspace first, a
    richer one for the survivors when more than :data:`STAGE_MIN_SURVIVORS` remain."""
    gamma = user.gamma
    selfs = group.self_terms(gamma)
    tau = np.inf
    for stage, m in enumerate(PRUNE_STAGES):
        if stage and len(pos) <= STAGE_MIN_SURVIVORS:
            break
        sub = Subspace.around(user.z2d, user.beta, gamma, m, user.self_inner_prod(gamma))
        V, err = group.approx_columns(sub.centres, gamma, positions=pos)
        lo, hi = sub.bounds(V, err, selfs[pos])
        fin = np.isfinite(lo) & np.isfinite(hi)
        pos, lo, hi = pos[fin], lo[fin], hi[fin]
        if len(pos) <= k:
            return pos
        # tau: the k-th smallest exact distance among the models that look nearest (by either
        # bound), far tighter than the k-th smallest upper bound; any k true distances bound it
        probe = pos[np.union1d(np.argpartition(lo, k - 1)[:k], np.argpartition(hi, k - 1)[:k])]
        tau = min(tau, float(np.partition(_exact_distances(group, user, probe), k - 1)[k - 1]))
        pos = pos[lo <= tau]
    return pos


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
    mixture: bool = True,
) -> StatSearchResult:
    """Rank models by squared MMD to ``user`` and, when ``mixture``, look for a better mixture.

    ``allowed`` restricts the candidates (semantic survivors); ``search_method`` is ``greedy`` or
    ``auto``.  Scores follow learnware's conversion so they read the same to its users.
    """
    if search_method not in ("greedy", "auto"):
        raise ValueError(f"unknown search_method {search_method!r}")
    if not np.isfinite(user.self_inner_prod()):
        raise ValueError("user specification has a non-finite self distance")
    want_mixture = mixture and max_search_num > 1
    head = max(EXACT_HEAD, max_search_num**2 if want_mixture else 0)
    group, order, dists = rank_single(index, user, allowed, exact_head=head)
    if group is None or len(order) == 0:
        return StatSearchResult()

    mixture_found: tuple[list[str], list[float], float] | None = None
    if want_mixture and dists[0] > 0 and len(order) > 1:
        cand = order[: max_search_num**2]
        gamma = user.gamma
        K = group.gram(cand, gamma)
        uu = user.self_inner_prod(gamma)
        # <Phi_user, Phi_i> recovered from the distances already computed: no second kernel pass
        C = (group.self_terms(gamma)[cand] + uu - dists[: len(cand)]) / 2.0
        pick = _mixture_greedy if search_method == "greedy" else _mixture_auto
        sel, w, mdist = pick(K, C, uu, max_search_num)
        if len(sel) > 1:
            mixture_found = ([group.ids[cand[i]] for i in sel], [float(x) for x in w], max(mdist, 0.0))

    found = mixture_found
    all_d = np.append(dists, found[2]) if found else dists
    scores = dist_to_score(all_d)
    single_scores = scores[: len(dists)]
    mix_score = float(scores[-1]) if found else 0.0
    if found and int(100 * mix_score) == int(100 * single_scores[0]):
        found = None

    keep = filter_single(single_scores, min_num)
    single_scores = single_scores[:keep].copy()
    if keep == 1 and single_scores[0] < FILTER_SCORE:
        factor = FILTER_SCORE / single_scores[0] if single_scores[0] > 1e-12 else 100.0
        single_scores[0] = FILTER_SCORE
        mix_score = min(1.0, mix_score * factor)
    single = [
        SingleItem(group.ids[order[i]], float(dists[i]), float(single_scores[i])) for i in range(keep)
    ]
    mix_item = MixtureItem(found[0], found[1], found[2], mix_score) if found else None
    return StatSearchResult(single=single, mixture=mix_item)
