"""A Sedna 0.4+ ``FederatedLearningV2`` job, as its users wrote it (the surface-defect v2
example's shape): module-level aggregation, chooser and transmitter objects, a customized
``Dataset`` and an ``Estimator`` with ``model`` and Plato's ``hyperparameters``.

The model is Keras-like (``fit``/``predict``/``get_weights``/``set_weights``/``save``) but
written in numpy, so the job needs neither TensorFlow nor Plato.
"""

import os

import numpy as np
from sklearn.datasets import load_digits

from sedna.algorithms.aggregation import FedAvgV2
from sedna.algorithms.client_choose import SimpleClientChoose
from sedna.common.config import Context
from sedna.core.federated_learning import FederatedLearningV2

os.environ['BACKEND_TYPE'] = 'KERAS'

simple_chooser = SimpleClientChoose(per_round=3)

fedavg = FedAvgV2()

# The function `get_transmitter_from_config()` returns an object instance.
transmitter = FederatedLearningV2.get_transmitter_from_config()

IMAGES = load_digits().data / 16.0


def load_index(index_file):
    """``<digit index> <label>`` lines -> (images, one-hot labels)."""
    rows = [line.split() for line in open(index_file) if line.strip()]
    idx = [int(r[0]) for r in rows]
    return IMAGES[idx], np.eye(10)[[int(r[1]) for r in rows]]


class SoftmaxModel:
    """A Keras-style softmax classifier trained by mini-batch gradient descent."""

    def __init__(self, learning_rate=0.1, seed=0):
        self.lr = float(learning_rate)
        self.rng = np.random.default_rng(seed)
        self.w = np.zeros((64, 10))
        self.b = np.zeros(10)

    def predict(self, x):
        z = np.asarray(x) @ self.w + self.b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def fit(self, x, y, epochs=1, batch_size=32, verbose=0):
        x, y = np.asarray(x), np.asarray(y)
        for _ in range(int(epochs)):
            order = self.rng.permutation(len(x))
            for start in range(0, len(x), int(batch_size)):
                batch = order[start:start + int(batch_size)]
                grad = self.predict(x[batch]) - y[batch]
                self.w -= self.lr * x[batch].T @ grad / len(batch)
                self.b -= self.lr * grad.mean(axis=0)

    def get_weights(self):
        return [self.w, self.b]

    def set_weights(self, weights):
        self.w, self.b = np.array(weights[0], dtype=float), np.array(weights[1], dtype=float)

    def save(self, path):
        with open(path, "wb") as fh:
            np.savez(fh, w=self.w, b=self.b)


class Dataset:
    def __init__(self, trainset=None, testset=None) -> None:
        self.customized = True
        self.trainset = trainset
        self.testset = testset


class Estimator:
    def __init__(self) -> None:
        self.model = SoftmaxModel(learning_rate=float(Context.get_parameters("learning_rate", 0.1)))
        self.pretrained = None
        self.saved = None
        self.hyperparameters = {
            "type": "basic",
            "rounds": int(Context.get_parameters("exit_round", 5)),
            "target_accuracy": 0.97,
            "epochs": int(Context.get_parameters("epochs", 5)),
            "batch_size": int(Context.get_parameters("batch_size", 32)),
            "optimizer": "SGD",
            "learning_rate": float(Context.get_parameters("learning_rate", 0.1)),
            "model_name": "digits_model",
            "momentum": 0.9,
            "weight_decay": 0.0
        }
