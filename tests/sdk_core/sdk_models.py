"""Small real models on scikit-learn's digits for the SDK tests (Sedna's estimator interface)."""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np


def load_digits_xy() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float64), d.target.astype(int)


class SoftmaxEstimator:
    """Multinomial logistic regression by full-batch gradient descent (deterministic).

    Weights are ``[W (64x10), b (10,)]`` so federated averaging is exact numpy math.
    """

    def __init__(self, epochs: int = 30, lr: float = 0.5, n_features: int = 64, n_classes: int = 10, seed: int = 0):
        self.epochs = int(epochs)
        self.lr = float(lr)
        rng = np.random.default_rng(seed)
        self.W = rng.normal(0, 0.01, size=(n_features, n_classes))
        self.b = np.zeros(n_classes)

    @staticmethod
    def _xy(data: Any) -> tuple[np.ndarray, np.ndarray | None]:
        x, y = (data.x, data.y) if hasattr(data, "x") else (data, None)
        if hasattr(x, "select_dtypes"):  # a DataFrame: the pixel columns, not the task attributes
            x = x.select_dtypes(include="number")
        return np.asarray(x, dtype=float), None if y is None else np.asarray(y, dtype=int)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.W + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def train(self, train_data: Any, valid_data: Any = None, **kwargs: Any) -> dict[str, float]:
        x, y = self._xy(train_data)
        assert y is not None
        onehot = np.eye(self.W.shape[1])[y]
        for _ in range(int(kwargs.get("epochs", self.epochs))):
            grad = self._proba(x) - onehot
            self.W -= self.lr * x.T @ grad / len(x)
            self.b -= self.lr * grad.mean(axis=0)
        return {"accuracy": float((self._proba(x).argmax(1) == y).mean())}

    def predict(self, data: Any, **kwargs: Any) -> np.ndarray:
        x, _ = self._xy(data)
        return self._proba(np.atleast_2d(x)).argmax(axis=1)

    def predict_proba(self, data: Any, **kwargs: Any) -> np.ndarray:
        x, _ = self._xy(data)
        return self._proba(np.atleast_2d(x))

    def evaluate(self, data: Any, **kwargs: Any) -> dict[str, float]:
        x, y = self._xy(data)
        return {"accuracy": float((self._proba(np.atleast_2d(x)).argmax(1) == y).mean())}

    def get_weights(self) -> list[np.ndarray]:
        return [self.W.copy(), self.b.copy()]

    def set_weights(self, weights: list[Any]) -> None:
        self.W = np.asarray(weights[0], dtype=float).copy()
        self.b = np.asarray(weights[1], dtype=float).copy()

    def save(self, model_path: str | None = None, **kwargs: Any) -> str:
        path = model_path or "model.pkl"
        if os.path.isdir(path) or not os.path.splitext(path)[1]:
            os.makedirs(path, exist_ok=True)
            path = os.path.join(path, "model.pkl")
        with open(path, "wb") as fh:
            pickle.dump({"W": self.W, "b": self.b}, fh)
        return path

    def load(self, model_url: str | None = None, **kwargs: Any) -> None:
        path = model_url or "model.pkl"
        if os.path.isdir(path):
            path = os.path.join(path, "model.pkl")
        with open(path, "rb") as fh:
            state = pickle.load(fh)
        self.W, self.b = state["W"], state["b"]


class ConstantEstimator(SoftmaxEstimator):
    """Predicts one fixed class; used to see which model answered."""

    def __init__(self, label: int = 7, **kwargs: Any):
        super().__init__(**kwargs)
        self.label = label

    def predict(self, data: Any, **kwargs: Any) -> np.ndarray:
        x, _ = self._xy(data)
        return np.full(len(np.atleast_2d(x)), self.label)


class ProbaEstimator(SoftmaxEstimator):
    """Edge model whose ``predict`` returns class probabilities (what HEM filters judge)."""

    def predict(self, data: Any, **kwargs: Any) -> np.ndarray:
        return self.predict_proba(data)


def trained(cls: type = SoftmaxEstimator, n: int = 600, epochs: int = 60, **kwargs: Any) -> Any:
    x, y = load_digits_xy()
    class _DS:
        pass

    ds = _DS()
    ds.x, ds.y = x[:n], y[:n]  # type: ignore[attr-defined]
    est = cls(epochs=epochs, **kwargs)
    est.train(ds)
    return est
