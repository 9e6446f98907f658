"""Training worker: a logistic-regression digit classifier trained with federated averaging.

Each round the SDK trains locally, sends the weights with this trainer's sample count, takes
the aggregated weights, evaluates them on the held-out test set (``data/test.txt``; printed
here and reported as the round's metrics, which reach the Model's status) and saves this
trainer's copy to ``model/digits.<dataset>.pkl``. After the last round the aggregated model is
published to the Model's own path, ``model/digits.pkl``.
"""

import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

from sedna.common.config import BaseConfig, Context
from sedna.core.federated_learning import FederatedLearning
from sedna.datasources import TxtDataParse


class Estimator:
    """Sedna's estimator interface over an SGD logistic regression (weights = coef_ + intercept_)."""

    def __init__(self, epochs: int):
        self.model = SGDClassifier(
            loss="log_loss", max_iter=epochs, tol=None, warm_start=True, random_state=0
        )
        self.rounds = 0

    def train(self, train_data, valid_data=None, **kwargs):
        x, y = train_data
        self.model.fit(x, y)
        return {"train_accuracy": float(self.model.score(x, y))}

    def evaluate(self, data, **kwargs):
        """Accuracy of the current (aggregated) model; called by the SDK after every round."""
        x, y = data
        self.rounds += 1
        accuracy = float(self.model.score(x, y))
        print(f"round {self.rounds}: test accuracy of the aggregated model {accuracy:.3f}", flush=True)
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


def load(index_file):
    """Samples named by a Sedna txt index: ``<digit index> <label>`` per line."""
    images = load_digits().data / 16.0
    parsed = TxtDataParse(data_type="train")
    parsed.parse(index_file)
    idx = np.array([int(i) for i in parsed.x])
    return images[idx], np.array([int(v) for v in parsed.y])


def test_index(train_url):
    """The held-out index: ``test_dataset_url`` when set, else ``test.txt`` beside the edges'
    directories (a local run), else ``data/test.txt`` in the working directory (the image);
    None when there is none (the rounds then report the local training accuracy)."""
    candidates = [
        Context.get_parameters("test_dataset_url"),
        os.path.join(os.path.dirname(os.path.dirname(train_url)), "test.txt"),
        os.path.join("data", "test.txt"),
    ]
    return next((path for path in candidates if path and os.path.isfile(path)), None)


def main():
    epochs = int(Context.get_parameters("epochs", 5))
    train_url = BaseConfig.train_dataset_url
    train_data = load(train_url)
    test_file = test_index(train_url)
    test_data = load(test_file) if test_file else None
    fl_model = FederatedLearning(estimator=Estimator(epochs), aggregation="FedAvg")
    fl_model.train(train_data=train_data, valid_data=test_data)


if __name__ == "__main__":
    main()
