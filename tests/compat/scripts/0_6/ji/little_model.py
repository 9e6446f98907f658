"""Sedna 0.6 edge worker.

Conventions: ``get_hem_algorithm_from_config()`` with no keywords (the manifest names
``Threshold`` and its threshold), a ``post_process`` callable that keeps the classifier's
probability vector (Threshold reads it directly: its top probability is the score), and the
big model's post-processing asked for by name with ``callback="top_class"``, a keyword that
travels with the request to the cloud.
"""

import json
import time

import numpy as np
from interface import Estimator, digits

from sedna.common.config import Context
from sedna.core.joint_inference import JointInference
from sedna.datasources import TxtDataParse


def to_probabilities(model_output):
    return [float(p) for p in np.asarray(model_output)[0]]


def wait_for_big_model(inference_instance, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if inference_instance.cloud.check_server_status() is not None:
                return
        except Exception:
            pass
        time.sleep(0.5)


def main():
    stream = TxtDataParse(data_type="eval", func=lambda line: line.split())
    stream.parse(Context.get_parameters("stream_url"))
    images = digits()

    hard_example_mining = JointInference.get_hem_algorithm_from_config()
    inference_instance = JointInference(
        estimator=Estimator,
        hard_example_mining=hard_example_mining
    )
    wait_for_big_model(inference_instance)

    hard = edge_correct = correct = 0
    for index, label in zip(stream.x, stream.y, strict=True):
        index, label = int(index), int(label)
        is_hard_example, final_result, edge_result, cloud_result = (
            inference_instance.inference(
                images[index:index + 1], post_process=to_probabilities, callback="top_class")
        )
        if is_hard_example and cloud_result is not None:
            answer = int(final_result[0])
            hard += 1
        else:
            answer = int(np.argmax(final_result))
        correct += int(answer == label)
        edge_correct += int(np.argmax(edge_result) == label)

    n = len(stream.x)
    print("SUMMARY " + json.dumps({
        "inferences": n, "hard_examples": hard,
        "edge_accuracy": edge_correct / n, "joint_accuracy": correct / n,
    }))


if __name__ == "__main__":
    main()
