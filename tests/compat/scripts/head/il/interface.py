"""Sedna HEAD incremental learning of digits, in the style of the dog-croissants example.

``BACKEND_TYPE`` set through ``os.environ`` (MINDSPORE, as that example). The estimator's
``train`` takes required keyword arguments of its own (``base_model_url``: it fine-tunes that
model itself; ``trained_ckpt_url``: where it keeps its result until ``save``), ``evaluate``
answers a framework-style ``{"acc": float}``, ``predict`` takes the script's extra keywords.
``DigitsDataset`` is a user data source: a ``BaseDataSource`` subclass with its own ``parse``.
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

from sedna.datasources import BaseDataSource

os.environ['BACKEND_TYPE'] = 'MINDSPORE'

IMAGES = load_digits().data / 16.0


class DigitsDataset(BaseDataSource):
    def __init__(self, data_type="train", func=None):
        super().__init__(data_type=data_type, func=func)

    def parse(self, *args, path=None, **kwargs):
        with open(path) as fh:
            rows = [line.split() for line in fh if line.strip()]
        self.x = IMAGES[[int(r[0]) for r in rows]]
        self.y = np.array([int(r[1]) for r in rows])
        return self


class Estimator:
    def __init__(self, **kwargs):
        self.layers = []
        self.trained_ckpt_url = None

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

    def train(self, train_data, base_model_url, trained_ckpt_url, valid_data=None, epochs=10, **kwargs):
        self.load(base_model_url)
        x, y = train_data.x, train_data.y
        onehot = np.eye(10)[y]
        for _ in range(int(epochs)):
            acts = self._forward(x)
            grad = (acts[-1] - onehot) / len(x)
            for i in range(len(self.layers) - 1, -1, -1):
                w, b = self.layers[i]
                back = grad @ w.T
                self.layers[i] = [w - 0.5 * acts[i].T @ grad, b - 0.5 * grad.sum(axis=0)]
                grad = back * (1 - acts[i] ** 2)
        os.makedirs(trained_ckpt_url, exist_ok=True)
        self.trained_ckpt_url = os.path.join(trained_ckpt_url, "best.ckpt")
        self._dump(self.trained_ckpt_url)
        if valid_data is not None:
            return self._accuracy(valid_data)
        return None

    def _accuracy(self, data):
        return {"acc": float((self._forward(data.x)[-1].argmax(axis=1) == data.y).mean())}

    def evaluate(self, data, model_path="", class_name="", input_shape=(8, 8), **kwargs):
        self.load(model_path)
        acc = self._accuracy(data)
        print(acc)
        return acc

    def predict(self, data, input_shape=None, **kwargs):
        return self._forward(np.asarray(data).reshape(-1, int(np.prod(input_shape))))[-1]

    def _dump(self, path):
        with open(path, "w") as fh:
            json.dump({"layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in self.layers]}, fh)

    def save(self, model_path=None):
        if not model_path:
            return
        with open(self.trained_ckpt_url) as src, open(model_path, "w") as dst:
            dst.write(src.read())

    def load(self, model_url):
        with open(model_url) as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]
