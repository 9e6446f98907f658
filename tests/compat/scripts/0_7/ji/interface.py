"""Sedna 0.7 joint inference of digits: the estimators of both workers.

``BACKEND_TYPE`` set through ``os.environ`` (MINDSPORE, selectable since 0.7); estimators as
classes. As in the cross-model (CIFAR-100) example, the little model's ``predict`` answers the
flat list of class probabilities itself, so the edge script needs no ``post_process``; the big
model answers the class.
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

os.environ['BACKEND_TYPE'] = 'MINDSPORE'


def digits():
    data = load_digits()
    return data.data / 16.0


class BigEstimator:

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
        return self._forward(data).argmax(axis=1).tolist()


class Estimator(BigEstimator):

    def predict(self, data, **kwargs):
        props = self._forward(data)
        return props.flatten().tolist()
