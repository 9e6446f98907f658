"""Edge worker: the little model answers; hard examples (CrossEntropy HEM) go to the big model.

Infers the digits of ``stream_url`` one by one, then prints a summary and exits (a finite
stream: ``sedna run`` stops the service once this worker has ended).
"""

import json
import time

import numpy as np
from interface import EdgeEstimator, digits, read_index

from sedna.common.config import Context
from sedna.core.joint_inference import JointInference


def to_list(probabilities):
    return [float(p) for p in np.asarray(probabilities)[0]]


def wait_for_cloud(ji, timeout=60.0):
    """Wait until the big model service answers (both workers start together)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ji.cloud.check_server_status() is not None:
            return
        time.sleep(0.5)


def main():
    stream_url = Context.get_parameters("stream_url")
    interval = float(Context.get_parameters("interval", "0"))
    # the manifest's hardExampleMining (HEM_NAME / HEM_PARAMETERS) decides; keyword arguments here
    # would override it, as in Sedna
    hard_example_mining = JointInference.get_hem_algorithm_from_config()
    ji = JointInference(estimator=EdgeEstimator, hard_example_mining=hard_example_mining)
    wait_for_cloud(ji)
    images, _ = digits()
    indexes, labels = read_index(stream_url)
    hard = correct = edge_correct = 0
    for i, label in zip(indexes, labels, strict=True):
        is_hard, result, edge_result, cloud_result = ji.inference(images[i : i + 1], post_process=to_list)
        answer = int(cloud_result[0]) if is_hard and cloud_result else int(np.argmax(result))
        hard += int(is_hard)
        correct += int(answer == label)
        edge_correct += int(int(np.argmax(edge_result)) == label)
        if interval:
            time.sleep(interval)
    ji.lc_reporter.report_once(force=True)
    n = len(labels)
    # the yardstick: every sample answered by the cloud (one batch, after the stream)
    cloud_answers = ji.cloud.inference(images[indexes].tolist())["result"]
    cloud_correct = sum(int(a == label) for a, label in zip(cloud_answers, labels, strict=True))
    print(
        "SUMMARY "
        + json.dumps(
            {
                "inferences": n,
                "hard_examples": hard,
                "cloud_ratio": hard / n,
                "edge_accuracy": edge_correct / n,
                "cloud_accuracy": cloud_correct / n,
                "joint_accuracy": correct / n,
            }
        )
    )


if __name__ == "__main__":
    main()
