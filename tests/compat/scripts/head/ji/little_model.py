"""Sedna HEAD edge worker, mining-then-inference (``MINING_MODE`` in the manifest).

Conventions: ``get_hem_algorithm_from_config()`` naming a user-registered HEM (``DigitRouter``,
as the answer-generation example names ``BertRouter``), inputs passed as lists (they go to the
cloud unchanged), and for a hard input ``final_result`` is the cloud's whole response, read as
``final_result["result"]``; the edge model only answers the inputs the router keeps.
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
    stream = TxtDataParse(data_type="eval", func=lambda line: [int(v) for v in line.split()])
    stream.parse(Context.get_parameters("stream_url"))
    images = digits()

    hard_example_mining = JointInference.get_hem_algorithm_from_config()
    inference_instance = JointInference(
        estimator=Estimator,
        hard_example_mining=hard_example_mining
    )
    wait_for_big_model(inference_instance)

    hard = correct = 0
    for index, label in zip(stream.x, stream.y, strict=True):
        is_hard_example, final_result, edge_result, cloud_result = (
            inference_instance.inference(images[index:index + 1].tolist(), post_process=to_probabilities)
        )
        if is_hard_example and cloud_result is not None:
            answer = int(final_result["result"][0])
            hard += 1
        else:
            answer = int(np.argmax(final_result))
        correct += int(answer == label)

    # what the edge model alone would have answered, for comparison
    edge_only = np.argmax(inference_instance.estimator.predict(images[stream.x]), axis=1)
    n = len(stream.x)
    print("SUMMARY " + json.dumps({
        "inferences": n, "hard_examples": hard,
        "edge_accuracy": float(np.mean(edge_only == stream.y)), "joint_accuracy": correct / n,
    }))


if __name__ == "__main__":
    main()
