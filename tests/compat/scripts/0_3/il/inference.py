"""Sedna 0.3 inference worker: answers the stream pass after pass; the deployed model is
hot-updated by the SDK (``MODEL_HOT_UPDATE``).

Conventions: the HEM from the manifest only (``HEM_NAME``/``HEM_PARAMETERS``: IBT), a
``post_process`` callable giving helmet-style boxes, and the accuracy read from the first
(raw) item ``inference`` returns, as the helmet example draws it. The script sees that a model
was deployed in the hot-update config file (``MODEL_HOT_UPDATE_CONFIG``); a few poll periods
later it reports the accuracy it now serves, and exits.
"""

import json
import time

import numpy as np
from interface import IMAGES, Estimator

from sedna.common.config import Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def deal_infer_rsl(model_output):
    probabilities = model_output[0]
    return [[0, 0, 8, 8, float(probabilities.max()), int(probabilities.argmax())]]


def model_update_time():
    try:
        with open(Context.get_parameters("MODEL_HOT_UPDATE_CONFIG")) as fh:
            return json.load(fh)["model_config"]["model_update_time"]
    except Exception:
        return None


def run():
    stream = TxtDataParse(data_type="eval")
    stream.parse(Context.get_parameters("stream_url"))
    indexes, labels = stream.x.astype(int), stream.y.astype(int)
    interval = float(Context.get_parameters("interval", "1"))
    poll = float(Context.get_parameters("MODEL_POLL_PERIOD_SECONDS", "60"))

    model = IncrementalLearning(estimator=Estimator)

    started, updated, passes = time.time(), None, 0
    while time.time() - started < 150:
        correct = hard = 0
        for index, label in zip(indexes, labels, strict=True):
            results, _, is_hard_example = model.inference(
                IMAGES[index:index + 1], post_process=deal_infer_rsl)
            correct += int(np.argmax(results) == label)
            hard += int(is_hard_example)
        passes += 1
        accuracy = correct / len(labels)
        print(f"pass {passes}: accuracy {accuracy:.3f}, hard examples {hard / len(labels):.3f}", flush=True)
        if updated is None and model_update_time() is not None:
            updated = time.time()
        elif updated is not None and time.time() - updated > 2 * poll:
            print(f"serving the hot-updated model: accuracy {accuracy:.3f}, hard examples {hard / len(labels):.3f}")
            return
        time.sleep(interval)


if __name__ == "__main__":
    run()
