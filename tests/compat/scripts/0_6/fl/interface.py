"""The estimator of a Sedna 0.6 federated-learning trainer (digits, scikit-learn).

An estimator *instance* this time, and ``[x, y]`` lists as data.
"""

import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

os.environ['BACKEND_TYPE'] = 'KERAS'

IMAGES = load_digits().data / 16.0


def load_index(index_file):
    """``<digit index> <label>`` lines -> [images, labels]."""
    rows = [line.split() for line in open(index_file) if line.strip()]
    idx = [int(r[0]) for r in rows]
    return [IMAGES[idx], np.array([int(r[1]) for r in rows])]


class Estimator:
    def __init__(self, epochs=1):
        self.epochs = int(epochs)
        self.model = SGDClassifier(loss="log_loss", max_iter=self.epochs, tol=None, warm_start=True,
                                   random_state=0)

    def train(self, train_data, valid_data=None, **kwargs):
        self.model.fit(train_data[0], train_data[1])
        return {}

    def evaluate(self, data, **kwargs):
        return {"accuracy": float(self.model.score(data[0], data[1]))}

    def predict(self, data, **kwargs):
        return self.model.predict(data)

    def get_weights(self):
        return [self.model.coef_, self.model.intercept_]

    def set_weights(self, weights):
        self.model.coef_ = np.array(weights[0])
        self.model.intercept_ = np.array(weights[1])

    def load(self, model_url):
        import joblib

        self.model = joblib.load(model_url)

    def save(self, model_path=None):
        import joblib

        joblib.dump(self.model, model_path)
