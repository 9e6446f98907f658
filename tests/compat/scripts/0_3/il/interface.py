"""Sedna 0.3 incremental learning of digits, helmet-detection style: the estimator.

``BACKEND_TYPE`` set through ``os.environ``; the estimator goes to the SDK as a class. Sedna's
interface: ``train(self, train_data, valid_data=None, **kwargs)`` reads its hyperparameters from
the keyword arguments the script passes (strings from the manifest), ``evaluate(self, data,
model_path, **kwargs)`` opens the model it is told to score, ``save(self, model_path)``,
``load(self, model_url)``. The data sources hold raw index lines ``<digit index> <label>``.
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

os.environ['BACKEND_TYPE'] = 'TENSORFLOW'

IMAGES = load_digits().data / 16.0


def samples(lines):
    rows = [str(line).split() for line in lines]
    return IMAGES[[int(r[0]) for r in rows]], np.array([int(r[1]) for r in rows])


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
        if not self.layers:
            rng = np.random.default_rng(0)
            self.layers = [[rng.normal(0, 1 / 8, size=(64, 10)), np.zeros(10)]]
        onehot = np.eye(10)[y]
        for _ in range(int(kwargs.get("epochs", "1"))):
            acts = self._forward(x)
            grad = (acts[-1] - onehot) / len(x)
            for i in range(len(self.layers) - 1, -1, -1):
                w, b = self.layers[i]
                back = grad @ w.T
                self.layers[i] = [w - 0.5 * acts[i].T @ grad, b - 0.5 * grad.sum(axis=0)]
                grad = back * (1 - acts[i] ** 2)
        return {"loss": float(-np.log(self._forward(x)[-1][np.arange(len(y)), y] + 1e-12).mean())}

    def evaluate(self, data, model_path, **kwargs):
        self.load(model_path)
        x, y = samples(data.x)
        pred = self._forward(x)[-1].argmax(axis=1)
        precision = np.mean([np.mean(y[pred == c] == c) for c in range(10) if np.any(pred == c)])
        recall = np.mean([np.mean(pred[y == c] == c) for c in range(10) if np.any(y == c)])
        return {"precision": float(precision), "recall": float(recall)}

    def predict(self, data, **kwargs):
        return self._forward(data)[-1]

    def save(self, model_path):
        with open(model_path, "w") as fh:
            json.dump({"layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in self.layers]}, fh)

    def load(self, model_url):
        with open(model_url) as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]
