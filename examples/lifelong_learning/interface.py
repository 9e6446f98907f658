"""The estimator and the data of this example.

Samples are digits seen through a *domain*: ``plain`` (scikit-learn's digits), ``inverted``
(light ink on dark paper) and, never trained on, ``noisy`` (a sensor adding strong noise).
Each line of the index files is ``<digit index> <label> <domain>``; the pixels are made
from scikit-learn's bundled digits. The estimator is a softmax regression in numpy with
Sedna's interface; it reads the pixel columns of the data and ignores the ``domain`` column
(the task attribute the lifelong-learning pipeline groups samples by).
"""

import json

import numpy as np
from sklearn.datasets import load_digits


def digits():
    """scikit-learn's bundled 8x8 digits: (pixels scaled to [0, 1], labels)."""
    data = load_digits()
    return data.data / 16.0, data.target


def render(images, domain, seed=0):
    """The pixels of ``images`` as a camera of ``domain`` sees them."""
    if domain == "inverted":
        return 1.0 - images
    if domain == "noisy":
        rng = np.random.default_rng(seed)
        return np.clip(images + rng.normal(0, 0.6, size=images.shape), 0, 1)
    return images


def read_samples(path):
    """A data source (``x``: pixel columns + ``domain``; ``y``: labels) from an index file."""
    import pandas as pd

    from sedna.datasources import BaseDataSource

    with open(path, encoding="utf-8") as fh:
        rows = [line.split() for line in fh if line.strip()]
    images, _ = digits()
    domains = np.array([r[2] for r in rows])
    x = np.empty((len(rows), images.shape[1]))
    for domain in sorted(set(domains)):
        where = np.flatnonzero(domains == domain)
        x[where] = render(images[[int(rows[k][0]) for k in where]], domain, seed=len(where))
    data = pd.DataFrame(x, columns=[f"p{i}" for i in range(x.shape[1])])
    data["domain"] = domains
    data["label"] = [int(r[1]) for r in rows]
    source = BaseDataSource(data_type="train")
    source.x = data.drop(columns=["label"])
    source.y = data["label"].to_numpy()
    return source


def pixels(data):
    """(pixel matrix, labels or None) of a data source, a DataFrame or an array."""
    if isinstance(data, tuple):
        x, y = data
    else:
        x, y = (data.x, data.y) if hasattr(data, "x") else (data, None)
    if hasattr(x, "select_dtypes"):
        x = x.select_dtypes(include="number").to_numpy()
    return np.asarray(x, dtype=float), None if y is None else np.asarray(y, dtype=int)


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
        x, y = pixels(train_data)
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
        return self.evaluate((x, y) if valid_data is None else valid_data)

    def predict_proba(self, data, **kwargs):
        return self._forward(pixels(data)[0])[-1]

    def predict(self, data, **kwargs):
        return self.predict_proba(data).argmax(axis=1)

    def evaluate(self, data, **kwargs):
        x, y = pixels(data)
        return {"accuracy": float((self.predict(x) == y).mean())}

    def save(self, model_path):
        with open(model_path, "w", encoding="utf-8") as fh:
            json.dump({"layers": [[w.round(6).tolist(), b.round(6).tolist()] for w, b in self.layers]}, fh)
        return model_path

    def load(self, model_url):
        with open(model_url, encoding="utf-8") as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]
