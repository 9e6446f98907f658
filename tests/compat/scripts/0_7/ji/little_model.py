"""Sedna 0.7 edge worker.

Conventions: the HEM as a dict in the script, ``{"method": "IBT", "param": {...}}``, judging
the classifier's probability vector directly (IBT scores it by its top probability), no
``post_process`` at all, and the stream parsed with ``use_raw=True`` (each record is whatever
the ``func`` returns, here the line's tokens).
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
    stream = TxtDataParse(data_type="test", func=lambda line: line.split())
    stream.parse(Context.get_parameters("stream_url"), use_raw=True)
    images = digits()

    inference_instance = JointInference(
        estimator=Estimator,
        hard_example_mining={
            "method": "IBT",
            "param": {"threshold_img": 0.9, "threshold_box": 0.65}
        }
    )
    wait_for_big_model(inference_instance)

    hard = edge_correct = correct = 0
    for index, label in stream.x:
        index, label = int(index), int(label)
        is_hard_example, final_result, edge_result, cloud_result = (
            inference_instance.inference(images[index:index + 1])
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
