"""Sedna 0.5 joint inference of digits: the estimators, and the post-process callback.

``BACKEND_TYPE`` set through ``os.environ`` (SKLEARN: Sedna's generic backend); estimators as
classes with ``load(self, model_url)``. The little model answers class probabilities; the big
model answers the class (a list, as the big-model service must). ``digits_probabilities`` is
registered as a CALLBACK so scripts name it instead of passing a function.
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

from sedna.common.class_factory import ClassFactory, ClassType

os.environ['BACKEND_TYPE'] = 'SKLEARN'


def digits():
    data = load_digits()
    return data.data / 16.0


@ClassFactory.register(ClassType.CALLBACK, alias="digits_probabilities")
def digits_probabilities(model_output):
    return np.asarray(model_output).flatten().tolist()


class Estimator:

    def __init__(self, **kwargs):
        self.layers = []

    def _forward(self, data):
        out = np.atleast_2d(np.asarray(data, dtype=float))
        for i, (w, b) in enumerate(self.layers):
            out = out @ w + b
            if i < len(self.layers) - 1:
                out = np.tanh(out)
        out = out - out.max(axis=1, keepdims=True)
        e = np.exp(out)
        return e / e.sum(axis=1, keepdims=True)

    def load(self, model_url):
        with open(model_url) as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]

    def predict(self, data, **kwargs):
        return self._forward(data)


class BigEstimator(Estimator):

    def predict(self, data, **kwargs):
        return self._forward(data).argmax(axis=1).tolist()
