"""Model interface of packaged models (learnware's ``BaseModel`` contract) and a pickle wrapper."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np


class BaseModel:
    """A packaged model: ``predict`` is mandatory; shapes describe one sample.

    ``input_shape`` is the shape of one input sample; ``output_shape`` the shape of one output
    (``(1,)`` for labels, ``(n_classes,)`` for scores).  Same contract as learnware's BaseModel so
    their ``__init__.py`` files run here (the checker sandbox provides a ``learnware.model`` shim).
    """

    def __init__(self, input_shape: tuple[int, ...] | None, output_shape: tuple[int, ...] | None) -> None:
        self.input_shape = input_shape
        self.output_shape = output_shape

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def finetune(self, X: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError


class PickleModel(BaseModel):
    """Wraps a pickled estimator stored next to the package's ``__init__.py``."""

    def __init__(
        self,
        input_shape: tuple[int, ...] | list[int] | None = None,
        output_shape: tuple[int, ...] | list[int] | None = None,
        pickle_path: str | Path = "model.pkl",
        predict_method: str = "predict",
    ) -> None:
        super().__init__(
            tuple(input_shape) if input_shape is not None else None,
            tuple(output_shape) if output_shape is not None else None,
        )
        with open(pickle_path, "rb") as fh:
            self.model: Any = pickle.load(fh)
        self.predict_method = predict_method

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(getattr(self.model, self.predict_method)(X))
        return out
