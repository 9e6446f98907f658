"""Sedna 0.7 incremental learning of digits: the estimator.

``BACKEND_TYPE`` set through ``os.environ`` (MINDSPORE, selectable since 0.7); the estimator
goes to the SDK as a class. ``predict`` answers the flat list of class probabilities itself
(as the cross-model CIFAR-100 example's does), so inference needs no ``post_process``.
Metrics are ``{name: [float]}``, two of them.
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

os.environ['BACKEND_TYPE'] = 'MINDSPORE'

IMAGES = load_digits().data / 16.0


class Estimator:

    def __init__(self, **kwargs):
        self.layers = []

    def _forward(self, data):
        acts = [np.atleast_2d(np.asarray(data, dtype=float))]
        for i, (w, b) in enumerate(self.layers):
            z = acts[-1] @ w + b
            if i < len(self.layers) - 1:
                acts.append(np.tanh(z))
            else:
                z -= z.max(axis=1, keepdims=True)
                e = np.exp(z)
                acts.append(e / e.sum(axis=1, keepdims=True))
        return acts

    def train(self, train_data, valid_data=None, **kwargs):
        x, y = IMAGES[train_data.x.astype(int)], train_data.y.astype(int)
        if not self.layers:
            rng = np.random.default_rng(0)
            self.layers = [[rng.normal(0, 1 / 8, size=(64, 10)), np.zeros(10)]]
        onehot = np.eye(10)[y]
        for _ in range(int(kwargs.get("epochs", 1))):
            acts = self._forward(x)
            grad = (acts[-1] - onehot) / len(x)
            for i in range(len(self.layers) - 1, -1, -1):
                w, b = self.layers[i]
                back = grad @ w.T
                self.layers[i] = [w - 0.5 * acts[i].T @ grad, b - 0.5 * grad.sum(axis=0)]
                grad = back * (1 - acts[i] ** 2)
        return {"accuracy": [float((self._forward(x)[-1].argmax(axis=1) == y).mean())]}

    def evaluate(self, data, model_path, **kwargs):
        self.load(model_path)
        x, y = IMAGES[data.x.astype(int)], data.y.astype(int)
        accuracy = float((self._forward(x)[-1].argmax(axis=1) == y).mean())
        return {"accuracy": [accuracy], "error_rate": [1 - accuracy]}

    def predict(self, data, **kwargs):
        props = self._forward(data)[-1]
        return props.flatten().tolist()

    def save(self, model_path):
        with open(model_path, "w") as fh:
            json.dump({"layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in self.layers]}, fh)

    def load(self, model_url):
        with open(model_url) as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]
