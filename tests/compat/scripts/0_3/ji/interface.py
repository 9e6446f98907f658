"""Sedna 0.3 joint inference, helmet-detection style: the estimators of both workers.

As in Sedna 0.3's examples, ``BACKEND_TYPE`` is set here through ``os.environ`` (read when
the SDK builds the backend) and the estimators are passed to the SDK as classes. The little
model answers the class probabilities of one 8x8 digit; the big model answers detection-style
boxes ``[x0, y0, x1, y1, score, class]`` (what the helmet big model returns).
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

os.environ['BACKEND_TYPE'] = 'TENSORFLOW'


def digits():
    data = load_digits()
    return data.data / 16.0


class Estimator:
    """The little model: softmax regression loaded from JSON weights."""

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
    """The big model: the boxes found in one image; here one, the whole 8x8 frame, scored by
    the top class."""

    def predict(self, data, **kwargs):
        probabilities = self._forward(data)[0]
        return [[0, 0, 8, 8, float(probabilities.max()), int(probabilities.argmax())]]
