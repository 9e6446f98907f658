"""Sedna's estimator interface over a ``FederatedLearningV2`` estimator, without Plato.

A V2 estimator is ``estimator.model`` (a Keras-like model, a torch module, or anything with
``fit``/``get_weights``/``set_weights``) plus ``estimator.hyperparameters`` (Plato's trainer
settings: ``epochs``, ``batch_size``, ``optimizer``, ``learning_rate``, ``momentum``,
``weight_decay``). Plato's trainer runs the training loop; here :class:`V2Estimator` does, so
the job can run on this SDK's own aggregation protocol.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from sedna.algorithms.aggregation.v2 import PlatoRequiredError
from sedna.backend.data import split_xy
from sedna.common.utils import filter_kwargs

__all__ = ["V2Estimator", "v2_datasets", "accuracy"]


def accuracy(predicted: Any, labels: Any) -> float:
    """Share of matching classes; scores or one-hot rows count by their arg-max."""
    pred, y = np.asarray(predicted), np.asarray(labels)
    if pred.ndim > 1:
        pred = pred.argmax(axis=-1)
    if y.ndim > 1:
        y = y.argmax(axis=-1)
    return float((pred.reshape(-1) == y.reshape(-1)).mean()) if y.size else 0.0


def v2_datasets(data: Any) -> tuple[Any, Any]:
    """``(trainset, testset)`` of a V2 data object (Sedna: ``customized`` + ``trainset``/``testset``).

    A data object with only ``parameters`` names a Plato datasource, which only Plato can load.
    """
    if data is None:
        raise ValueError("FederatedLearningV2 without Plato needs data with a trainset (and testset)")
    trainset = getattr(data, "trainset", None)
    if trainset is None:
        if getattr(data, "parameters", None):
            raise PlatoRequiredError("a Plato datasource (data.parameters without a trainset)")
        raise ValueError("the data object of FederatedLearningV2 has no trainset")
    return trainset, getattr(data, "testset", None)


class _SednaDriver:
    """An estimator that already has Sedna's interface (train/get_weights/set_weights)."""

    def __init__(self, estimator: Any, hyperparameters: dict[str, Any]) -> None:
        self.target = estimator
        self.hp = hyperparameters

    def train(self, data: Any) -> Any:
        method = self.target.train
        return method(data, **filter_kwargs(method, dict(self.hp)))

    def evaluate(self, data: Any) -> Any:
        method = getattr(self.target, "evaluate", None)
        if callable(method):
            return method(data)
        x, y = split_xy(data)
        return {"accuracy": accuracy(self.target.predict(x), y)}

    def get_weights(self) -> list[Any]:
        return list(self.target.get_weights())

    def set_weights(self, weights: list[Any]) -> None:
        self.target.set_weights(weights)

    def save(self, path: str) -> str:
        save = getattr(self.target, "save", None)
        if callable(save):
            save(path)
        else:
            _pickle(self.target, path)
        return path


class _FitDriver(_SednaDriver):
    """A Keras-like model: ``fit(x, y, epochs=, batch_size=)``, ``predict``, weights as arrays."""

    def train(self, data: Any) -> Any:
        fit = self.target.fit
        options = filter_kwargs(fit, {
            "epochs": int(self.hp.get("epochs", 1)),
            "batch_size": int(self.hp.get("batch_size", 32)),
            "verbose": 0,
        })
        x, y = split_xy(data)
        history = fit(x, y, **options) if y is not None else fit(data, **options)
        return getattr(history, "history", None)

    def evaluate(self, data: Any) -> Any:
        x, y = split_xy(data)
        if y is None:
            return None
        return {"accuracy": accuracy(self.target.predict(x), y)}


def _pickle(obj: Any, path: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def _torch_driver(model: Any, hp: dict[str, Any]) -> _SednaDriver | None:
    """A torch module trained by :class:`sedna.backend.torch.TorchEstimator` with Plato's
    hyperparameter names; None when ``model`` is no torch module."""
    # look at the class first: importing torch only to rule it out costs seconds per worker
    if not any(klass.__module__.startswith("torch") for klass in type(model).__mro__):
        return None
    import torch

    if not isinstance(model, torch.nn.Module):
        return None
    from sedna.backend.torch import TorchEstimator

    lr = float(hp.get("learning_rate", hp.get("lr", 0.01)))
    momentum = float(hp.get("momentum", 0.0))
    decay = float(hp.get("weight_decay", 0.0))
    name = str(hp.get("optimizer", "SGD")).lower()

    def optimizer(params: Any) -> Any:
        if name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=decay)
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=decay)

    est = TorchEstimator(
        model, optimizer=optimizer, epochs=int(hp.get("epochs", 1)), batch_size=int(hp.get("batch_size", 32))
    )
    return _SednaDriver(est, {})


def _driver(estimator: Any, hp: dict[str, Any]) -> _SednaDriver:
    for attr in ("trainer", "algorithm"):
        if getattr(estimator, attr, None) is not None:
            raise PlatoRequiredError(f"a custom Plato {attr} (estimator.{attr})")
    model = getattr(estimator, "model", None)
    if model is not None:
        torch_driver = _torch_driver(model, hp)
        if torch_driver is not None:
            return torch_driver
        if all(callable(getattr(model, m, None)) for m in ("fit", "get_weights", "set_weights")):
            return _FitDriver(model, hp)
    if all(callable(getattr(estimator, m, None)) for m in ("train", "get_weights", "set_weights")):
        return _SednaDriver(estimator, hp)
    raise TypeError(
        "FederatedLearningV2 without Plato needs estimator.model with fit/get_weights/set_weights "
        "(Keras-like), a torch nn.Module, or an estimator with train/get_weights/set_weights"
    )


class V2Estimator:
    """Sedna's estimator interface (what :class:`FederatedLearning` drives) over a V2 estimator."""

    def __init__(self, estimator: Any, hyperparameters: dict[str, Any] | None = None) -> None:
        self.source = estimator
        self.hyperparameters = dict(hyperparameters or getattr(estimator, "hyperparameters", None) or {})
        self.driver = _driver(estimator, self.hyperparameters)

    def train(self, train_data: Any, valid_data: Any = None, **kwargs: Any) -> Any:
        """One round of local training with the estimator's hyperparameters."""
        return self.driver.train(train_data)

    def evaluate(self, data: Any, **kwargs: Any) -> Any:
        """``{"accuracy": ...}`` (or the estimator's own evaluate) on ``data``."""
        return self.driver.evaluate(data)

    def get_weights(self) -> list[Any]:
        return self.driver.get_weights()

    def set_weights(self, weights: list[Any]) -> None:
        self.driver.set_weights(weights)

    def save(self, model_path: str) -> str:
        return self.driver.save(model_path)
