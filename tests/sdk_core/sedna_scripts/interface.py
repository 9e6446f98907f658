# A user estimator in the style of Sedna's example `interface.py` files.
import pickle

import numpy as np


class Estimator:
    def __init__(self, **kwargs):
        self.W = None
        self.b = None
        self.proba = kwargs.get("proba", False)

    def load(self, model_url=None):
        with open(model_url, "rb") as fh:
            state = pickle.load(fh)
        self.W, self.b = state["W"], state["b"]

    def _proba(self, data):
        z = np.atleast_2d(np.asarray(data, dtype=float)) @ self.W + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, data, **kwargs):
        return self._proba(data).argmax(axis=1)


class EdgeEstimator(Estimator):
    def predict(self, data, **kwargs):
        return self._proba(data)
