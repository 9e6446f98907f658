"""The estimator of a Sedna 0.4 federated-learning trainer (digits, scikit-learn).

As in 0.4's examples: ``BACKEND_TYPE`` set through ``os.environ``, the estimator a class the
SDK instantiates, ``train`` taking the keyword arguments the script passes to the SDK.
"""

import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

os.environ['BACKEND_TYPE'] = 'KERAS'

IMAGES = load_digits().data / 16.0


def image_process(line):
    index, label = line.split()
    return [IMAGES[int(index)], int(label)]


class Estimator:
    def __init__(self, **kwargs):
        """Model init"""
        self.model = SGDClassifier(loss="log_loss", tol=None, warm_start=True, random_state=0)

    def train(self, train_data, valid_data=None, epochs=1, batch_size=1, learning_rate=0.01,
              validation_split=0.2):
        """Model train"""
        self.model.max_iter = int(epochs)
        self.model.fit(train_data.x, train_data.y)
        return {"accuracy": [float(self.model.score(train_data.x, train_data.y))]}

    def evaluate(self, test_data, **kwargs):
        """Model evaluate"""
        return {"accuracy": float(self.model.score(test_data.x, test_data.y))}

    def predict(self, datas):
        return self.model.predict(datas)

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

        return joblib.dump(self.model, model_path)
