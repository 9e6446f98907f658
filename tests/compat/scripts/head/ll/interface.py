"""Sedna HEAD lifelong learning, atcii style (pitfall 10: its train and eval use the 0.4 keywords, the inference worker 0.6 ones): the estimator and the data settings of the workers.

``BACKEND_TYPE`` is set through ``os.environ``; the estimator goes to the SDK as a class, reads
what ``CSVDataParse`` made of the thermal-comfort CSV (``feature_process`` casts every column
but ``Season`` to float, the label to int) and pickles its scikit-learn pipeline.
"""

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
    if "City" in df.columns:
        df.drop(["City"], axis=1, inplace=True)
    for feature in df.columns:
        if feature in ["Season", ]:
            continue
        df[feature] = df[feature].apply(lambda x: float(x) if x else 0.0)
    df['Thermal preference'] = df['Thermal preference'].apply(
        lambda x: int(float(x)) if x else 1)
    return df


class Estimator:

    def __init__(self, **kwargs):
        self.model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))

    def train(self, train_data, valid_data=None, **kwargs):
        self.model.fit(train_data.x, train_data.y)
        return self

    def predict(self, datas, **kwargs):
        return self.model.predict(datas)

    def predict_proba(self, datas, **kwargs):
        return self.model.predict_proba(datas)

    def evaluate(self, test_data, **kwargs):
        return {"accuracy": float(self.model.score(test_data.x, test_data.y))}

    def load(self, model_url):
        with open(model_url, "rb") as fin:
            self.model = pickle.load(fin)

    def save(self, model_path):
        with open(model_path, "wb") as fout:
            pickle.dump(self.model, fout)
        return model_path
