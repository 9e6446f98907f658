"""Training worker: a logistic-regression digit classifier trained with federated averaging."""

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
        self.classes = np.arange(10)

    def train(self, train_data, valid_data=None, **kwargs):
        x, y = train_data
        self.model.fit(x, y)
        return self.evaluate(valid_data) if valid_data is not None else {}

    def evaluate(self, data, **kwargs):
        x, y = data
        return {"accuracy": float(self.model.score(x, y))}

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


def main():
    epochs = int(Context.get_parameters("epochs", 5))
    train_data = load(BaseConfig.train_dataset_url)
    fl_model = FederatedLearning(estimator=Estimator(epochs), aggregation="FedAvg")
    fl_model.train(train_data=train_data, valid_data=train_data)


if __name__ == "__main__":
    main()
