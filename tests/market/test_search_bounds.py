"""The ranking's exact bounds and near-tie settling: the subspace bounds bracket every float64
distance (float32 errors included), pruning in one or two stages keeps the true top-k, and a whole
ranking orders float64 near-ties as float64 does."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from sedna_market.search.stat_index import StatIndex
from sedna_market.search.stat_search import rank_single
from sedna_market.search.subspace import Subspace
from sedna_market.spec.rkme import RKMETableSpec

# the package exports the function stat_search under the module's name: fetch the module
search_module = importlib.import_module("sedna_market.search.stat_search")

DIM = 8


def _market(rng: np.random.Generator, n: int, tasks: int, jitter: float, spread: float = 1.5) -> StatIndex:
    centres = rng.normal(0.0, spread, size=(tasks, DIM))
    specs = []
    for i in range(n):
        z = rng.normal(centres[i % tasks], 1.0, size=(30, DIM))
        specs.append((f"m{i}", RKMETableSpec(z, rng.dirichlet(np.ones(30)), 0.1, 100)))
        if jitter:
            # a near-copy: distances to it differ from the original's by about jitter
            z2 = z + rng.normal(0.0, jitter, size=z.shape)
            specs.append((f"m{i}c", RKMETableSpec(z2, specs[-1][1].beta.copy(), 0.1, 100)))
    return StatIndex(specs)


def _user(rng: np.random.Generator, centre: np.ndarray, signed: bool = False) -> RKMETableSpec:
    w = rng.dirichlet(np.ones(50))
    if signed:  # learnware allows beta of either sign (nonnegative_beta=False)
        w = w * rng.choice([-1.0, 1.0], size=50) + 0.02
    return RKMETableSpec(rng.normal(centre, 1.2, size=(50, DIM)), w, 0.1, 50)


@pytest.mark.parametrize("m", [4, 8, 32])
@pytest.mark.parametrize("signed", [False, True])
def test_subspace_bounds_bracket_every_exact_distance(m: int, signed: bool) -> None:
    rng = np.random.default_rng(3)
    index = _market(rng, 300, 30, 0.0, spread=3.0)  # spread: far models with large norms too
    group = index.groups[(DIM,)]
    selfs = group.self_terms(0.1)
    for u in range(3):
        user = _user(rng, group.specs[u * 13].z2d.mean(0), signed)
        exact = group.distances(user)
        sub = Subspace.around(user.z2d, user.beta, 0.1, m, user.self_inner_prod(0.1))
        # the float32 columns with their error bound, as the search computes them
        V, err = group.approx_columns(sub.centres, 0.1)
        lo, hi = sub.bounds(V, err, selfs)
        assert np.all(lo <= exact) and np.all(exact <= hi)
        # the same bounds from float64 columns with no error are tighter or equal, and still hold
        V64 = np.stack([group.specs[i].beta @ np.exp(-0.1 * ((group.specs[i].z2d[:, None, :] - sub.centres[None]) ** 2).sum(-1))
                        for i in range(group.size)])
        lo64, hi64 = sub.bounds(V64, np.zeros(group.size), selfs)
        assert np.all(lo64 <= exact) and np.all(exact <= hi64)
        assert np.all(lo64 >= lo - 1e-12) and np.all(hi64 <= hi + 1e-12)
        # and they are informative: the nearest model's upper bound excludes most of the market
        if m >= 8:
            assert np.mean(lo > np.min(hi)) > 0.5


@pytest.mark.parametrize("stage_min", [0, 10**9])
@pytest.mark.parametrize("signed", [False, True])
def test_pruned_top_k_is_the_exact_top_k(monkeypatch: pytest.MonkeyPatch, stage_min: int, signed: bool) -> None:
    """One stage (``stage_min`` huge) or every stage (0): the top-k equals float64's, and pruning
    did drop models (a prune that keeps everything would pass the first check trivially)."""
    monkeypatch.setattr(search_module, "PRUNE_MIN_ENTRIES", 0)
    monkeypatch.setattr(search_module, "STAGE_MIN_SURVIVORS", stage_min)
    kept: list[int] = []
    real = search_module._prune

    def spy(group, user, pos, k):  # type: ignore[no-untyped-def]
        out = real(group, user, pos, k)
        kept.append(len(out))
        return out

    monkeypatch.setattr(search_module, "_prune", spy)
    rng = np.random.default_rng(5)
    index = _market(rng, 400, 40, 0.0)
    group = index.groups[(DIM,)]
    centres = np.array([group.specs[t].z2d.mean(0) for t in range(40)])
    for u in range(5):
        user = _user(rng, centres[u * 7], signed)
        exact = group.distances(user)
        truth = np.lexsort((np.arange(len(exact)), exact))
        for k in (1, 5):
            _, order, dists = rank_single(index, user, top=k)
            assert order.tolist() == truth[:k].tolist()
            assert np.allclose(dists, exact[truth[:k]], rtol=0, atol=1e-12)
    assert kept and max(kept) < group.size


def test_whole_ranking_orders_near_ties_as_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    """Near-copies whose distances differ by less than the float32 pass's rounding: the whole
    ranking is float64's order, position by position; without the settling step it is not (so
    the market does exercise float32's limits)."""
    rng = np.random.default_rng(8)
    index = _market(rng, 600, 60, 1e-6)
    group = index.groups[(DIM,)]
    users = [_user(rng, group.specs[2 * t].z2d.mean(0)) for t in (0, 11, 23, 42)]
    truths = []
    for user in users:
        exact = group.distances(user)
        truths.append(np.lexsort((np.arange(len(exact)), exact)))
        _, order, dists = rank_single(index, user)
        assert order.tolist() == truths[-1].tolist()
        assert np.allclose(dists, exact[order], rtol=0, atol=1e-6)
    monkeypatch.setattr(search_module, "NEAR_TIE_FACTOR", 0.0)
    unsettled = [rank_single(index, user)[1] for user in users]
    assert any(o.tolist() != t.tolist() for o, t in zip(unsettled, truths, strict=True))
