"""scikit-learn adapter: ``SklearnEstimator`` (Sedna's estimator interface over any
``fit``/``predict`` model) and ``SklearnBackend`` (``BACKEND_TYPE=SKLEARN``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sedna.backend.base import BackendBase
from sedna.backend.data import split_xy
from sedna.common.utils import filter_kwargs

__all__ = ["SklearnEstimator", "SklearnBackend"]


class SklearnEstimator:
    """Wrap a scikit-learn-style model (instance, or class built with ``**params``).

    ``train``/``evaluate``/``predict`` accept a ``BaseDataSource``, an ``(x, y)`` pair or a
    ``{"x", "y"}`` dict. ``evaluate`` returns ``{metric_name: value}``: ``metric`` may be a
    callable ``(y_true, y_pred) -> float`` or the name of a ``sklearn.metrics`` function;
    by default accuracy for classifiers and R² for others. Models are pickled with joblib.
    """

    def __init__(self, model: Any, metric: str | Callable[..., float] | None = None, **params: Any) -> None:
        self.model = model(**params) if isinstance(model, type) else model
        if not callable(getattr(self.model, "fit", None)):
            raise TypeError(f"{type(self.model).__name__} has no fit(); SklearnEstimator needs fit/predict")
        self.metric = metric

    def prepare_finetune(self) -> None:
        """Forget the previous fit's early-stopping record before continuing training.

        A ``warm_start`` model (``MLPClassifier``, ``SGDClassifier``...) keeps ``best_loss_``
        and its no-improvement counter across ``fit`` calls, so a fine-tune on new data whose
        first epochs score worse than the old data's best stops after ``n_iter_no_change``
        epochs: on digits an IL round reached 87% instead of 92%.
        """
        model = self.model
        if not getattr(model, "warm_start", False):
            return
        if getattr(model, "best_loss_", None) is not None:
            model.best_loss_ = np.inf
        if hasattr(model, "best_validation_score_"):
            model.best_validation_score_ = -np.inf
        if hasattr(model, "_no_improvement_count"):
            model._no_improvement_count = 0

    def train(self, train_data: Any, valid_data: Any = None, **kwargs: Any) -> dict[str, float]:
        """Fit on ``train_data``; returns the metrics on ``valid_data`` (``{}`` without it)."""
        x, y = split_xy(train_data)
        fit = self.model.fit
        self.model = fit(x, y, **filter_kwargs(fit, kwargs)) or self.model
        return self.evaluate(valid_data) if valid_data is not None else {}

    def predict(self, data: Any, **kwargs: Any) -> Any:
        """``model.predict(x)``."""
        x, _ = split_xy(data)
        return self.model.predict(x)

    def predict_proba(self, data: Any, **kwargs: Any) -> Any:
        """``model.predict_proba(x)`` (class probabilities, e.g. for hard example mining)."""
        x, _ = split_xy(data)
        if not callable(getattr(self.model, "predict_proba", None)):
            raise AttributeError(f"{type(self.model).__name__} has no predict_proba()")
        return self.model.predict_proba(x)

    def evaluate(self, valid_data: Any, metric: str | Callable[..., float] | None = None, **kwargs: Any) -> dict[
        str, float
    ]:
        """``{name: value}`` of ``metric`` on ``valid_data``."""
        x, y = split_xy(valid_data)
        if y is None:
            raise ValueError("evaluate() needs labelled data")
        metric = metric or self.metric
        pred = self.model.predict(x)
        if metric is None:
            from sklearn.base import is_classifier
            from sklearn.metrics import accuracy_score, r2_score

            if is_classifier(self.model):
                return {"accuracy": float(accuracy_score(y, pred))}
            return {"r2": float(r2_score(y, pred))}
        if isinstance(metric, str):
            from sklearn import metrics as skm

            func = getattr(skm, metric, None) or getattr(skm, f"{metric}_score", None)
            if func is None:
                raise ValueError(f"unknown sklearn metric {metric!r}")
            return {metric: float(func(y, pred, **filter_kwargs(func, kwargs)))}
        return {getattr(metric, "__name__", "metric"): float(metric(y, pred))}

    def save(self, model_path: str) -> str:
        """Pickle the model with joblib; returns ``model_path``."""
        import joblib

        joblib.dump(self.model, model_path)
        return model_path

    def load(self, model_url: str) -> SklearnEstimator:
        """Unpickle a model saved by :meth:`save` (trusted files only)."""
        import joblib

        self.model = joblib.load(model_url)
        return self

    def get_weights(self) -> list[np.ndarray]:
        """``[coef_, intercept_]`` of linear models (for federated averaging)."""
        if not hasattr(self.model, "coef_"):
            raise NotImplementedError(f"{type(self.model).__name__} has no coef_: weights are not exposed")
        intercept = getattr(self.model, "intercept_", np.zeros(0))
        return [np.array(self.model.coef_, copy=True), np.array(np.atleast_1d(intercept), copy=True)]

    def set_weights(self, weights: list[Any]) -> None:
        """Set ``coef_``/``intercept_`` from :meth:`get_weights`' layout."""
        if len(weights) != 2:
            raise ValueError(f"expected [coef, intercept], got {len(weights)} arrays")
        self.model.coef_ = np.asarray(weights[0], dtype=np.float64)
        intercept = np.asarray(weights[1], dtype=np.float64)
        old = getattr(self.model, "intercept_", None)
        # models with fit_intercept=False keep a scalar 0.0 there
        self.model.intercept_ = float(intercept.reshape(-1)[0]) if old is not None and np.ndim(old) == 0 else intercept


class SklearnBackend(BackendBase):
    """``BACKEND_TYPE=SKLEARN``: a bare fit/predict model is wrapped in ``SklearnEstimator``."""

    framework = "sklearn"

    def _wrap(self, estimator: Any) -> Any:
        if callable(getattr(estimator, "train", None)):
            return estimator
        if callable(getattr(estimator, "fit", None)):
            return SklearnEstimator(estimator)
        return estimator
