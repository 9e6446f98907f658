"""Sedna HEAD joint inference of digits, in the style of the answer-generation example.

``BACKEND_TYPE`` is TORCH (set through ``os.environ``), estimators are classes whose
``load(self, model_url="")`` reads ``MODEL_URL`` when given no path and honours
``MODEL_LOAD_MODE``: in ``hf`` mode the URL is a model id resolved in a model hub (here a
directory, ``model_hub``) rather than a file. ``DigitRouter`` is a hard example mining
algorithm registered under that name, which the manifest selects: like ``BertRouter`` it
judges the *input* with its own model (``mining-then-inference``).
"""

import json
import os

import numpy as np
from sklearn.datasets import load_digits

from sedna.algorithms.hard_example_mining.hard_example_mining import BaseFilter
from sedna.common.class_factory import ClassFactory, ClassType

os.environ['BACKEND_TYPE'] = 'TORCH'


def digits():
    data = load_digits()
    return data.data / 16.0


def replace_prefix(model_path, prefix, new_prefix):
    if model_path.startswith(prefix):
        model_path = model_path[len(prefix):]
        if model_path.startswith("/"):
            model_path = model_path[1:]
        return new_prefix + model_path
    return model_path


def format_model_path(model_path):
    """The model's location as the load mode wants it (a hub id in ``hf`` mode)."""
    model_load_mode = os.environ.get("MODEL_LOAD_MODE", "file")
    prefix = os.environ.get("DATA_PATH_PREFIX", "/downloads")
    if model_load_mode == "hf":
        model_path = replace_prefix(model_path, prefix, "")
    return model_path


class Estimator:

    def __init__(self, **kwargs):
        self.model_load_mode = os.environ.get("MODEL_LOAD_MODE", "file")
        self.layers = []

    def load(self, model_url=""):
        if not model_url:
            model_url = os.environ.get("MODEL_URL")
        model_path = format_model_path(model_url)
        if self.model_load_mode == "hf":
            hub = os.environ.get("model_hub", "./model")
            model_path = os.path.join(hub, os.path.basename(model_path) + ".json")
        with open(model_path) as fh:
            self.layers = [[np.array(w), np.array(b)] for w, b in json.load(fh)["layers"]]

    def forward(self, data):
        out = np.atleast_2d(np.asarray(data, dtype=float))
        for i, (w, b) in enumerate(self.layers):
            out = out @ w + b
            if i < len(self.layers) - 1:
                out = np.tanh(out)
        out = out - out.max(axis=1, keepdims=True)
        e = np.exp(out)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, data, **kwargs):
        return self.forward(data)


class BigEstimator(Estimator):

    def predict(self, data, **kwargs):
        return self.forward(data).argmax(axis=1).tolist()


@ClassFactory.register(ClassType.HEM, alias="DigitRouter")
class DigitRouter(BaseFilter):
    """Routes an input to the cloud unless the router model is confident enough about it:
    not hard iff its top class probability >= ``threshold``."""

    def __init__(self, model="", threshold=0.5, **kwargs):
        super().__init__(**kwargs)
        self.router = Estimator()
        self.router.load(model)
        self.threshold = float(threshold)

    def __call__(self, infer_result=None):
        return float(self.router.forward(infer_result)[0].max()) < self.threshold
