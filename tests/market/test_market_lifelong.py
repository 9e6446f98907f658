"""Lifelong-learning API: allocation, unseen-task detection, prediction and reuse."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

from sedna_market.lifelong import TaskMarket
from sedna_market.reuse import AveragingReuser, JobSelectorReuser
from sedna_market.spec.rkme import generate_rkme_table_spec

DIM = 4


class Const:
    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X):
        return np.full(len(X), self.value)


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = np.sum(pred & truth)
    return 2 * tp / (np.sum(pred) + np.sum(truth))


def test_allocate_detect_unseen_and_predict(tmp_path) -> None:
    rng = np.random.default_rng(7)
    seen_means = [np.full(DIM, c) for c in (-6.0, 0.0, 6.0)]
    tm = TaskMarket(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path / "store")
    ids = []
    for k, mu in enumerate(seen_means):
        X = rng.normal(mu, 1.0, size=(400, DIM))
        ids.append(tm.add_task_model(LinearRegression().fit(X, np.full(len(X), float(k))), X))
    X_seen = np.concatenate([rng.normal(mu, 1.0, size=(100, DIM)) for mu in seen_means])
    truth_task = np.repeat(np.arange(3), 100)
    X_unseen = rng.normal(np.array([3.0, -12.0, 12.0, 3.0]), 1.0, size=(300, DIM))

    tasks, dist = tm.allocate(X_seen)
    assert np.mean(np.array(tasks) == np.array(ids)[truth_task]) >= 0.95
    assert np.all(np.isfinite(dist))

    X_all = np.concatenate([X_seen, X_unseen])
    is_unseen = np.r_[np.zeros(300, bool), np.ones(300, bool)]
    assert f1(tm.detect_unseen(X_all), is_unseen) >= 0.9

    pred = tm.predict(X_seen)
    assert np.mean(np.round(pred) == truth_task) >= 0.95

    # a fresh TaskMarket on the same database loads the models back from their packages
    tm2 = TaskMarket(f"sqlite:///{tmp_path / 'tasks.db'}", tmp_path / "store")
    assert set(tm2.task_ids) == set(ids)
    assert np.allclose(tm2.model(ids[2]).predict(X_seen[:5]), 2.0)


def test_reusers() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, DIM))
    assert np.allclose(AveragingReuser([Const(1.0), Const(3.0)]).predict(X), 2.0)

    class Scores:
        def __init__(self, k):
            self.k = k

        def predict(self, X):
            out = np.zeros((len(X), 3))
            out[:, self.k] = 5.0
            return out

    assert np.all(AveragingReuser([Scores(0), Scores(2), Scores(2)], "vote_by_label").predict(X) == 2)
    probs = AveragingReuser([Scores(0), Scores(2)], "vote_by_prob").predict(X)
    assert probs.shape == (10, 3) and np.allclose(probs.sum(axis=1), 1.0)

    XA, XB = rng.normal(-4, 1, size=(300, DIM)), rng.normal(4, 1, size=(300, DIM))
    specs = [generate_rkme_table_spec(XA, reduced_set_size=20), generate_rkme_table_spec(XB, reduced_set_size=20)]
    js = JobSelectorReuser([Const(0.0), Const(1.0)], specs, herding_num=200)
    test = np.concatenate([rng.normal(-4, 1, size=(50, DIM)), rng.normal(4, 1, size=(50, DIM))])
    assert np.mean(js.predict(test) == np.r_[np.zeros(50), np.ones(50)]) >= 0.95
