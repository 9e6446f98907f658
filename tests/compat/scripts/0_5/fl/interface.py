"""The estimator of a Sedna 0.5 federated-learning trainer (digits, scikit-learn).

``BACKEND_TYPE`` is a name 0.5 does not know (it falls back to its generic backend); the data
reaches ``train`` as an ``(x, y)`` pair of arrays, for which 0.5 reported 2 samples.
"""

import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

os.environ['BACKEND_TYPE'] = 'SKLEARN'

IMAGES = load_digits().data / 16.0


def load_index(index_file):
    """``<digit index> <label>`` lines -> (images, labels)."""
    rows = [line.split() for line in open(index_file) if line.strip()]
    idx = np.array([int(r[0]) for r in rows])
    return IMAGES[idx], np.array([int(r[1]) for r in rows])


class Estimator:
    def __init__(self, **kwargs):
        self.model = SGDClassifier(loss="log_loss", tol=None, warm_start=True, random_state=0)

    def train(self, train_data, valid_data=None, **kwargs):
        x, y = train_data
        self.model.max_iter = int(kwargs.get("epochs", 1))
        self.model.fit(x, y)
        return {"accuracy": float(self.model.score(x, y))}

    def evaluate(self, data, **kwargs):
        x, y = data
        return {"accuracy": float(self.model.score(x, y))}

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
