"""Sedna 0.3 edge worker: the little model answers, hard examples go to the big model.

Sedna 0.3 conventions: ``JointInference(estimator=..., config=None)`` (no
``hard_example_mining`` argument: the HEM is named by ``HEM_NAME`` and parameterised by
``HEM_PARAMETERS``, both from the manifest), a ``post_process`` callable turning the raw output
into helmet-style boxes ``[x0, y0, x1, y1, score, class]`` (what IBT reads), and the cloud's
answer read as Sedna 0.3 hands it over: the response ``{"result": ...}``.
"""

import json
import time

import numpy as np
from interface import Estimator, digits

from sedna.common.config import Context
from sedna.core.joint_inference import JointInference
from sedna.datasources import TxtDataParse


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
    stream = TxtDataParse(data_type="eval")
    stream.parse(Context.get_parameters("stream_url"))
    images = digits()

    inference_instance = JointInference(estimator=Estimator, config=None)
    wait_for_big_model(inference_instance)

    hard = edge_correct = correct = 0
    for index, label in zip(stream.x, stream.y, strict=True):
        img = images[int(index)]
        is_hard_example, final_result, edge_result, cloud_result = (
            inference_instance.inference(img, post_process=postprocess)
        )
        if is_hard_example and cloud_result is not None:
            boxes = cloud_result["result"]
            hard += 1
        else:
            boxes = final_result
        correct += int(boxes[0][5] == int(label))
        edge_correct += int(np.argmax(edge_result) == int(label))

    n = len(stream.x)
    print("SUMMARY " + json.dumps({
        "inferences": n, "hard_examples": hard,
        "edge_accuracy": edge_correct / n, "joint_accuracy": correct / n,
    }))


if __name__ == "__main__":
    main()
