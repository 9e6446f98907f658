"""The estimator of a Sedna HEAD federated-learning trainer (digits, scikit-learn).

Like the repository's example: ``BACKEND_TYPE`` set through ``os.environ``, an estimator
instance, an ``(x, y)`` pair, and ``evaluate`` for the aggregated model's test accuracy.
"""

import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

from sedna.datasources import TxtDataParse

os.environ["BACKEND_TYPE"] = "SKLEARN"


def load(index_file):
    """Samples named by a Sedna txt index: ``<digit index> <label>`` per line."""
    images = load_digits().data / 16.0
    parsed = TxtDataParse(data_type="train")
    parsed.parse(index_file)
    idx = np.array([int(i) for i in parsed.x])
    return images[idx], np.array([int(v) for v in parsed.y])


class Estimator:
    def __init__(self, epochs: int):
        self.model = SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, warm_start=True, random_state=0)

    def train(self, train_data, valid_data=None, **kwargs):
        x, y = train_data
        self.model.fit(x, y)
        return {"train_accuracy": float(self.model.score(x, y))}

    def evaluate(self, data, **kwargs):
        x, y = data
        accuracy = float(self.model.score(x, y))
        print(f"test accuracy of the aggregated model {accuracy:.3f}", flush=True)
        return {"accuracy": accuracy}

    def predict(self, data, **kwargs):
        return self.model.predict(data)

    def get_weights(self):
        return [self.model.coef_, self.model.intercept_]

    def set_weights(self, weights):
        self.model.coef_ = np.asarray(weights[0], dtype=float)
        self.model.intercept_ = np.asarray(weights[1], dtype=float)

    def save(self, model_path):
        import joblib

        joblib.dump(self.model, model_path)
        return model_path

    def load(self, model_url):
        import joblib

        self.model = joblib.load(model_url)
