"""The estimators of this example (Sedna's interface: train/evaluate/predict/load/save).

A small neural network in numpy: no hidden layer is a softmax regression (the little edge
model), one tanh hidden layer the bigger cloud model. Models are saved as JSON, so the files
in ``model/`` do not depend on library versions.
"""

import json

import numpy as np
from sklearn.datasets import load_digits


def digits():
    """scikit-learn's bundled 8x8 digits: (pixels scaled to [0, 1], labels)."""
    data = load_digits()
    return data.data / 16.0, data.target


def read_index(path):
    """A Sedna txt index of this example: ``<digit index> <label>`` per line."""
    with open(path, encoding="utf-8") as fh:
        rows = [line.split() for line in fh if line.strip()]
    return np.array([int(r[0]) for r in rows]), np.array([int(r[1]) for r in rows])


class Estimator:
    """Full-batch gradient descent on cross-entropy; ``hidden=0`` is softmax regression."""

    def __init__(self, hidden=0, epochs=200, lr=0.5, seed=0, **kwargs):
        self.hidden = int(hidden)
        self.epochs = int(epochs)
        self.lr = float(lr)
        self.seed = int(seed)
        self.layers = []

    def _init(self, n_in, n_out):
        rng = np.random.default_rng(self.seed)
        sizes = [n_in, self.hidden, n_out] if self.hidden else [n_in, n_out]
        self.layers = [
            [rng.normal(0, 1 / np.sqrt(a), size=(a, b)), np.zeros(b)]
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]

    def _forward(self, x):
        acts = [np.atleast_2d(np.asarray(x, dtype=float))]
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
        x, y = train_data
        if not self.layers:
            self._init(x.shape[1], 10)
        onehot = np.eye(10)[y]
        for _ in range(self.epochs):
            acts = self._forward(x)
            grad = (acts[-1] - onehot) / len(x)
            for i in range(len(self.layers) - 1, -1, -1):
                w, b = self.layers[i]
                back = grad @ w.T
                self.layers[i] = [w - self.lr * acts[i].T @ grad, b - self.lr * grad.sum(axis=0)]
                grad = back * (1 - acts[i] ** 2)
        return self.evaluate(valid_data if valid_data is not None else train_data)

    def predict_proba(self, data, **kwargs):
        return self._forward(data)[-1]

    def predict(self, data, **kwargs):
        return self.predict_proba(data).argmax(axis=1)

    def evaluate(self, data, **kwargs):
        x, y = data
        return {"accuracy": float((self.predict(x) == y).mean())}

    def save(self, model_path):
        with open(model_path, "w", encoding="utf-8") as fh:
            json.dump({"layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in self.layers]}, fh)
        return model_path

    def load(self, model_url):
        with open(model_url, encoding="utf-8") as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]


class EdgeEstimator(Estimator):
    """The little model answers class probabilities: the hard example mining judges them."""

    def predict(self, data, **kwargs):
        return self.predict_proba(data)
