"""Stacking returned models under a model of the user's own labelled data.

:class:`FeatureAugmentReuser` is learnware's FeatureAugment reuser: the user's features are
extended with every model's output, ``X' = [X, pred_1(X), ..., pred_m(X)]``, and a simple
cross-validated model (ridge regression or logistic regression) is fitted on ``X'``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["FeatureAugmentReuser"]


class FeatureAugmentReuser:
    """Fit ``RidgeCV`` (regression) or ``LogisticRegressionCV`` (classification) on the user's
    features augmented with the models' outputs; ``predict`` applies the same augmentation.

    Non-finite model outputs are replaced by the column means seen at :meth:`fit` (a model that
    diverges on some samples does not poison the stack).
    """

    def __init__(self, models: Sequence[Any], mode: Literal["classification", "regression"] = "classification") -> None:
        if not models:
            raise ValueError("need at least one model")
        if mode not in ("classification", "regression"):
            raise ValueError(f"mode must be 'classification' or 'regression', got {mode!r}")
        self.models = list(models)
        self.mode = mode
        self.head: Any = None
        self._fill: np.ndarray | None = None

    def _augment(self, X: Any) -> np.ndarray:
        base = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        outs = [np.asarray(m.predict(X), dtype=np.float64).reshape(len(base), -1) for m in self.models]
        stacked = np.hstack([base, *outs])
        if self._fill is None:
            with np.errstate(all="ignore"):
                fill = np.nanmean(np.where(np.isfinite(stacked), stacked, np.nan), axis=0)
            self._fill = np.nan_to_num(fill, nan=0.0)
        bad = ~np.isfinite(stacked)
        if bad.any():
            stacked[bad] = np.take(self._fill, np.nonzero(bad)[1])
        return stacked

    def fit(self, X: Any, y: Any) -> FeatureAugmentReuser:
        """Learn the head on labelled ``(X, y)``; returns ``self``."""
        from sklearn.linear_model import LogisticRegressionCV, RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self._fill = None
        features = self._augment(X)
        target = np.asarray(y).reshape(len(features), -1)
        if self.mode == "regression":
            head = RidgeCV(alphas=[0.01, 0.1, 1, 10, 100])
            self.head = make_pipeline(StandardScaler(), head).fit(features, target.squeeze(-1) if target.shape[1] == 1 else target)
        else:
            folds = int(min(5, np.bincount(np.unique(target.ravel(), return_inverse=True)[1]).min()))
            head = LogisticRegressionCV(cv=max(2, folds), max_iter=1000)
            with warnings.catch_warnings():
                # scikit-learn announces changes of LogisticRegressionCV's defaults; these are
                # the defaults learnware's reuser was written against
                warnings.simplefilter("ignore", FutureWarning)
                self.head = make_pipeline(StandardScaler(), head).fit(features, target.ravel())
        return self

    def predict(self, X: Any) -> np.ndarray:
        if self.head is None:
            raise RuntimeError("FeatureAugmentReuser.predict before fit: call fit(X, y) with labelled data first")
        return np.asarray(self.head.predict(self._augment(X)))
