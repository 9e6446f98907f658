"""Sedna 0.6 incremental learning of digits: the estimator.

``BACKEND_TYPE`` set through ``os.environ`` (KERAS); the estimator goes to the SDK as a class.
``train`` takes its hyperparameters as keyword arguments; the data sources hold
``(digit index, label)`` pairs whole (``use_raw``); metrics are ``{name: float}``.
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

os.environ['BACKEND_TYPE'] = 'KERAS'

IMAGES = load_digits().data / 16.0


def samples(pairs):
    pairs = np.asarray(list(pairs), dtype=int)
    return IMAGES[pairs[:, 0]], pairs[:, 1]


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
        x, y = samples(train_data.x)
        epochs, lr = int(kwargs.get("epochs", 1)), float(kwargs.get("learning_rate", 0.5))
        if not self.layers:
            rng = np.random.default_rng(0)
            self.layers = [[rng.normal(0, 1 / 8, size=(64, 10)), np.zeros(10)]]
        onehot = np.eye(10)[y]
        for _ in range(epochs):
            acts = self._forward(x)
            grad = (acts[-1] - onehot) / len(x)
            for i in range(len(self.layers) - 1, -1, -1):
                w, b = self.layers[i]
                back = grad @ w.T
                self.layers[i] = [w - lr * acts[i].T @ grad, b - lr * grad.sum(axis=0)]
                grad = back * (1 - acts[i] ** 2)
        return {"accuracy": float((self._forward(x)[-1].argmax(axis=1) == y).mean())}

    def evaluate(self, data, model_path, **kwargs):
        self.load(model_path)
        x, y = samples(data.x)
        return {"accuracy": float((self._forward(x)[-1].argmax(axis=1) == y).mean())}

    def predict(self, data, **kwargs):
        return self._forward(data)[-1]

    def save(self, model_path):
        with open(model_path, "w") as fh:
            json.dump({"layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in self.layers]}, fh)

    def load(self, model_url):
        with open(model_url) as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]
