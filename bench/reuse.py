"""Reusers against the best single returned model, on data scikit-learn ships (no download).

    .venv/bin/python bench/reuse.py               # seeds 0 1 2
    .venv/bin/python bench/reuse.py --seeds 0

Each task is a market of "store" models: each learnt on a small sample of the training split
with its own 40 % of the columns (its sensors), a third of them on labels a faulty pipeline
corrupted. The user holds a
small labelled set (for the reusers that need labels) and is scored on a held-out test split:

- ``digits`` (10 classes) and ``breast_cancer`` (binary): logistic-regression stores whose
  ``predict`` returns class probabilities; accuracy.
- ``diabetes`` (regression): ridge stores; mean squared error (lower is better).

The table gives the best single store (chosen on the test split, an upper bound for picking
one), the averaging reuser, EnsemblePruning and FeatureAugment. The tests in
``tests/market/test_reusers.py`` assert the gains this table shows.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "market"))

from sedna_market.augment import FeatureAugmentReuser  # noqa: E402
from sedna_market.pruning import EnsemblePruningReuser  # noqa: E402
from sedna_market.reuse import AveragingReuser  # noqa: E402


class Store:
    """A store's model: it sees only its own sensors (a subset of the columns); a classifier's
    ``predict`` returns class probabilities over every class."""

    def __init__(self, model: Any, columns: np.ndarray, n_classes: int | None) -> None:
        self.model, self.columns, self.n_classes = model, columns, n_classes

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X)[:, self.columns]
        if self.n_classes is None:
            return np.asarray(self.model.predict(X))
        out = np.zeros((len(X), self.n_classes))
        out[:, self.model.classes_] = self.model.predict_proba(X)
        return out


@dataclass
class Market:
    stores: list[Any]
    user_X: np.ndarray
    user_y: np.ndarray
    test_X: np.ndarray
    test_y: np.ndarray
    regression: bool


def make_market(task: str, seed: int, stores: int = 9, per_store: int = 60, user: int = 100) -> Market:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer, "diabetes": load_diabetes}[task]
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = len(y) // 3
    test, rest = order[:n_test], order[n_test:]
    user_idx, pool = rest[:user], rest[user:]
    regression = task == "diabetes"
    n_classes = int(y.max()) + 1
    models: list[Any] = []
    for s in range(stores):
        idx = rng.choice(pool, size=min(per_store, len(pool)), replace=False)
        columns = np.sort(rng.choice(X.shape[1], size=max(2, int(0.4 * X.shape[1])), replace=False))
        labels = y[idx].copy()
        if s % 3 == 2:  # a faulty pipeline: half of this store's labels are wrong
            flip = rng.random(len(idx)) < 0.5
            labels[flip] = rng.permutation(labels)[flip]
        if regression:
            models.append(Store(Ridge(alpha=1.0).fit(X[idx][:, columns], labels), columns, None))
        else:
            fitted = LogisticRegression(max_iter=500, C=0.5).fit(X[idx][:, columns], labels)
            models.append(Store(fitted, columns, n_classes))
    return Market(models, X[user_idx], y[user_idx], X[test], y[test], regression)


def score(market: Market, predictions: np.ndarray) -> float:
    if market.regression:
        return float(np.mean((np.asarray(predictions).reshape(-1) - market.test_y) ** 2))
    p = np.asarray(predictions)
    labels = p.argmax(axis=1) if p.ndim > 1 else p
    return float(np.mean(labels == market.test_y))


def evaluate(task: str, seed: int) -> dict[str, float]:
    m = make_market(task, seed)
    mode = "regression" if m.regression else "classification"
    singles = [score(m, s.predict(m.test_X)) for s in m.stores]
    best = min(singles) if m.regression else max(singles)
    averaging = AveragingReuser(m.stores, mode="mean" if m.regression else "vote_by_label")
    pruning = EnsemblePruningReuser(m.stores, mode=mode).fit(m.user_X, m.user_y, maxgen=200, random_state=seed)
    augment = FeatureAugmentReuser(m.stores, mode=mode).fit(m.user_X, m.user_y)
    return {
        "best single": best,
        "averaging": score(m, averaging.predict(m.test_X)),
        "ensemble pruning": score(m, pruning.predict(m.test_X)),
        "feature augment": score(m, augment.predict(m.test_X)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print("| task | metric | best single | averaging | ensemble pruning | feature augment |")
    print("|---|---|---|---|---|---|")
    for task in ("digits", "breast_cancer", "diabetes"):
        rows = [evaluate(task, s) for s in args.seeds]
        metric = "MSE (lower is better)" if task == "diabetes" else "accuracy"
        cells = [f"{np.mean([r[k] for r in rows]):.3f}" for k in rows[0]]
        print(f"| {task} | {metric} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
