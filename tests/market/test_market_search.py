"""Semantic and statistical search on a synthetic market of task models."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from sedna_market.market import Market
from sedna_market.organizer import DONE, Organizer
from sedna_market.package import build_pickle_package
from sedna_market.schemas import SearchQuery
from sedna_market.search.semantic_search import semantic_search
from sedna_market.search.stat_index import StatIndex
from sedna_market.search.stat_search import stat_search
from sedna_market.spec.rkme import generate_rkme_table_spec
from sedna_market.status import CheckStatus

N_TASKS, DIM, USERS_PER_TASK = 20, 5, 3


def task_data(rng: np.random.Generator, means: np.ndarray, t: int, n: int) -> np.ndarray:
    return rng.normal(means[t], 1.0, size=(n, DIM))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, semantic):
    semantic_for = semantic
    rng = np.random.default_rng(42)
    means = rng.normal(0.0, 2.0, size=(N_TASKS, DIM))
    tmp = tmp_path_factory.mktemp("synthetic")
    org = Organizer(f"sqlite:///{tmp / 'm.db'}", tmp / "store")
    ids = []
    for t in range(N_TASKS):
        X = task_data(rng, means, t, 300)
        y = X @ rng.normal(size=DIM)
        spec = generate_rkme_table_spec(X, reduced_set_size=30)
        sem = semantic_for(dim=DIM, task="Regression", n_classes=1, name=f"store {t} sales",
                           description=f"regressor for region {t}", scenario="Business" if t % 2 else "Nature")
        pkg = build_pickle_package(Ridge().fit(X, y), spec, (DIM,), (1,), sem)
        ids.append(org.add(pkg, sem, spec, CheckStatus.USABLE, DONE))
    return org, means, ids, rng


def test_vectorised_distances_equal_per_model_loop(synthetic) -> None:
    org, means, ids, rng = synthetic
    user = generate_rkme_table_spec(task_data(rng, means, 3, 200), reduced_set_size=20)
    group = org.index().group_for(user)
    loop = np.array([user.dist(org.get(i).stat_spec) for i in group.ids])
    assert np.allclose(group.distances(user), loop, atol=1e-12)


def test_statistical_search_top1_accuracy(synthetic) -> None:
    org, means, ids, rng = synthetic
    correct = total = 0
    for t in range(N_TASKS):
        for _ in range(USERS_PER_TASK):
            user = generate_rkme_table_spec(task_data(rng, means, t, 150), reduced_set_size=15)
            res = stat_search(org.index(), user, max_search_num=1)
            correct += res.single[0].id == ids[t]
            total += 1
    assert correct / total >= 0.95, correct / total


def test_mixture_search_finds_components(synthetic) -> None:
    org, means, ids, rng = synthetic
    X = np.concatenate([task_data(rng, means, 1, 200), task_data(rng, means, 7, 200)])
    user = generate_rkme_table_spec(X, reduced_set_size=30)
    for method in ("greedy", "auto"):
        res = stat_search(org.index(), user, max_search_num=3, search_method=method)
        assert res.mixture is not None, method
        assert {ids[1], ids[7]} <= set(res.mixture.ids)
        assert sum(res.mixture.weights) == pytest.approx(1.0)
        assert res.mixture.distance < res.single[0].distance
        assert res.single[0].id in (ids[1], ids[7])


def test_semantic_filter_and_fuzzy(synthetic) -> None:
    org, means, ids, rng = synthetic
    m = Market(org, run_stat_check=False)
    user = generate_rkme_table_spec(task_data(rng, means, 4, 150), reduced_set_size=15)
    # tag filter: task 4 is "Nature" (even), so asking for Business excludes it
    q = SearchQuery(semantic_spec={"Scenario": {"Type": "Tag", "Values": ["Business"]}}, stat_spec=user.to_dict())
    res = m.search(q)
    assert ids[4] not in {s.id for s in res.single} and res.single
    res = m.search(SearchQuery(semantic_spec={"Name": {"Type": "String", "Values": "store 12 sales"}}))
    assert [s.id for s in res.single] == [ids[12]]
    fuzzy = m.search(SearchQuery(semantic_spec={"Name": {"Type": "String", "Values": "stor 12 sale"}}))
    assert ids[12] in [s.id for s in fuzzy.single[:3]]
    exact = m.search(SearchQuery(semantic_spec={"Name": {"Type": "String", "Values": "stor 12 sale"}},
                                 semantic_mode="exact"))
    assert exact.single == []
    by_id = semantic_search(org.get(ids[2]).semantic_spec.model_copy(update={"learnware_id": {"Values": ids[2]}}),
                            [(i, org.get(i).semantic_spec) for i in ids], mode="exact")
    assert [i for i, _ in by_id] == [ids[2]]


def test_concurrent_searches_agree(synthetic) -> None:
    org, means, ids, rng = synthetic
    users = [generate_rkme_table_spec(task_data(rng, means, t, 100), reduced_set_size=10) for t in range(8)]
    expected = [stat_search(org.index(), u, max_search_num=2).single[0].id for u in users]
    out: dict[int, list[str]] = {}

    def run(k: int) -> None:
        out[k] = [stat_search(org.index(), u, max_search_num=2).single[0].id for u in users]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == expected for v in out.values())


def test_index_groups_by_feature_shape() -> None:
    rng = np.random.default_rng(0)
    a = generate_rkme_table_spec(rng.normal(size=(50, 3)), reduced_set_size=5)
    b = generate_rkme_table_spec(rng.normal(size=(50, 4)), reduced_set_size=5)
    idx = StatIndex([("a", a), ("b", b)])
    res = stat_search(idx, generate_rkme_table_spec(rng.normal(size=(40, 4)), reduced_set_size=5))
    assert [s.id for s in res.single] == ["b"]
