"""Sedna 0.5 edge worker.

Conventions: the HEM given as a dict in the script, ``{"method": "CrossEntropy", "param":
{...}}`` (it wins over the manifest's), ``post_process`` as the name of a registered CALLBACK,
and ``cloud_result`` / ``final_result`` holding the big model's class list for hard examples.
"""

import json
import time

import numpy as np
from interface import Estimator, digits

from sedna.common.config import Context
from sedna.core.joint_inference import JointInference
from sedna.datasources import TxtDataParse


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

    inference_instance = JointInference(
        estimator=Estimator,
        hard_example_mining={
            "method": "CrossEntropy",
            "param": {
                "threshold_cross_entropy": 0.5
            }
        }
    )
    wait_for_big_model(inference_instance)

    hard = edge_correct = correct = 0
    for index, label in zip(stream.x, stream.y, strict=True):
        is_hard_example, final_result, edge_result, cloud_result = (
            inference_instance.inference(images[index:index + 1], post_process="digits_probabilities")
        )
        if is_hard_example and cloud_result is not None:
            answer = int(cloud_result[0])
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
