"""Sedna 0.6 lifelong learning, robot-delivery (cityscapes) style adapted to the thermal-comfort
CSV: the estimator is built by the script and handed to the SDK as an instance (0.6's first,
positional ``seen_estimator``); ``BACKEND_TYPE`` is set through ``os.environ``."""

import os
import pickle

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

os.environ['BACKEND_TYPE'] = 'SKLEARN'

DATACONF = {
    "ATTRIBUTES": ["Season", "Cooling startegy_building level"],
    "LABEL": "Thermal preference",
}


def feature_process(df):
    for feature in df.columns:
        if feature in DATACONF["ATTRIBUTES"][:1]:
            continue
        df[feature] = df[feature].astype(float)
    df[DATACONF["LABEL"]] = df[DATACONF["LABEL"]].astype(int)
    return df


class Estimator:

    def __init__(self, **kwargs):
        self.max_iter = int(kwargs.get("max_iter", 1000))
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=self.max_iter))

    def train(self, train_data, valid_data=None, **kwargs):
        self.model.fit(train_data.x, train_data.y)
        return {"train_accuracy": float(self.model.score(train_data.x, train_data.y))}

    def predict(self, data, **kwargs):
        return self.model.predict(data)

    def evaluate(self, data, **kwargs):
        return {"accuracy": float(self.model.score(data.x, data.y))}

    def load(self, model_url, **kwargs):
        with open(model_url, "rb") as fin:
            self.model = pickle.load(fin)

    def save(self, model_path):
        with open(model_path, "wb") as fout:
            pickle.dump(self.model, fout)
        return model_path
