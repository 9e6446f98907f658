"""Sedna 0.5 incremental learning of digits: the estimator and the callbacks.

``BACKEND_TYPE`` set through ``os.environ`` (SKLEARN: Sedna's generic backend). The estimator
goes to the SDK as a class, which the SDK builds with the keyword arguments its constructor
takes: here the ``epochs`` the train script passes to ``train``. Metrics are
``{name: [float]}`` (what Sedna 0.5's deploy trigger parses). Two callbacks are registered so
scripts can name them: ``log_trained_model`` (after training) and ``digits_probabilities``
(after inference).
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

from sedna.common.class_factory import ClassFactory, ClassType

os.environ['BACKEND_TYPE'] = 'SKLEARN'

IMAGES = load_digits().data / 16.0


@ClassFactory.register(ClassType.CALLBACK, alias="log_trained_model")
def log_trained_model(model):
    print(f"trained model: {model.estimator.epochs} epochs", flush=True)
    return model


@ClassFactory.register(ClassType.CALLBACK, alias="digits_probabilities")
def digits_probabilities(model_output):
    return np.asarray(model_output).flatten().tolist()


class Estimator:

    def __init__(self, **kwargs):
        self.epochs = int(kwargs.get("epochs", 1))
        self.lr = float(kwargs.get("lr", 0.5))
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
        for _ in range(self.epochs):
            acts = self._forward(x)
            grad = (acts[-1] - onehot) / len(x)
            for i in range(len(self.layers) - 1, -1, -1):
                w, b = self.layers[i]
                back = grad @ w.T
                self.layers[i] = [w - self.lr * acts[i].T @ grad, b - self.lr * grad.sum(axis=0)]
                grad = back * (1 - acts[i] ** 2)
        return {"accuracy": [float((self._forward(x)[-1].argmax(axis=1) == y).mean())]}

    def evaluate(self, data, model_path, **kwargs):
        self.load(model_path)
        x, y = IMAGES[data.x.astype(int)], data.y.astype(int)
        return {"accuracy": [float((self._forward(x)[-1].argmax(axis=1) == y).mean())]}

    def predict(self, data, **kwargs):
        return self._forward(data)[-1]

    def save(self, model_path):
        with open(model_path, "w") as fh:
            json.dump({"layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in self.layers]}, fh)

    def load(self, model_url):
        with open(model_url) as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]
