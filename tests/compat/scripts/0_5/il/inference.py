"""Sedna 0.5 inference worker: answers the stream pass after pass; the deployed model is
hot-updated by the SDK (``MODEL_HOT_UPDATE``).

Conventions: the HEM given as a dict (``CrossEntropy``; it wins over the manifest's) and
``post_process`` naming a registered CALLBACK; the accuracy is read from the post-processed
result (the second item ``inference`` returns). The script sees that a model
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

    model = IncrementalLearning(
        estimator=Estimator,
        hard_example_mining={"method": "CrossEntropy", "param": {"threshold_cross_entropy": 0.5}},
    )

    started, updated, passes = time.time(), None, 0
    while time.time() - started < 150:
        correct = hard = 0
        for index, label in zip(indexes, labels, strict=True):
            _, probabilities, is_hard_example = model.inference(
                IMAGES[index:index + 1], post_process="digits_probabilities")
            correct += int(np.argmax(probabilities) == label)
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
