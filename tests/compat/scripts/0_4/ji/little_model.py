"""Sedna 0.4 edge worker.

Sedna 0.4 conventions: ``JointInference.get_hem_algorithm_from_config(threshold_img=0.9)``
(the manifest names IBT and gives ``threshold_box``; the keyword is the script's own),
``JointInference(estimator=..., hard_example_mining=...)``, a ``post_process`` callable giving
helmet-style boxes, and ``final_result`` that is the big model's answer for hard examples
(``cloud_result`` is the answer itself, no longer the response dict). The stream is parsed with
``TxtDataParse(data_type=..., func=...)``, the func returning the (sample, label) pair.
"""

import json
import time

import numpy as np
from interface import Estimator, digits

from sedna.common.config import Context
from sedna.core.joint_inference import JointInference
from sedna.datasources import TxtDataParse


def parse_line(line):
    index, label = line.split()
    return int(index), int(label)


def postprocess(model_output):
    probabilities = model_output[0]
    return [[0, 0, 8, 8, float(probabilities.max()), int(probabilities.argmax())]]


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
    stream = TxtDataParse(data_type="eval", func=parse_line)
    stream.parse(Context.get_parameters("stream_url"))
    images = digits()

    hard_example_mining = JointInference.get_hem_algorithm_from_config(
        threshold_img=0.9
    )
    inference_instance = JointInference(
        estimator=Estimator,
        hard_example_mining=hard_example_mining
    )
    wait_for_big_model(inference_instance)

    hard = edge_correct = correct = 0
    for index, label in zip(stream.x, stream.y, strict=True):
        is_hard_example, final_result, edge_result, cloud_result = (
            inference_instance.inference(images[index], post_process=postprocess)
        )
        if is_hard_example and cloud_result is not None:
            assert final_result == cloud_result
            hard += 1
        correct += int(final_result[0][5] == label)
        edge_correct += int(np.argmax(edge_result) == label)

    n = len(stream.x)
    print("SUMMARY " + json.dumps({
        "inferences": n, "hard_examples": hard,
        "edge_accuracy": edge_correct / n, "joint_accuracy": correct / n,
    }))


if __name__ == "__main__":
    main()
