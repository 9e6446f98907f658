"""Inference worker: answers the digits of ``stream_url`` pass after pass.

The model is hot-updated (MODEL_HOT_UPDATE): when the LC points ``model_config.json`` at a
newly trained model, the SDK swaps it in. After one more pass on the new model the worker
prints its accuracy and exits (``max_seconds`` bounds a run where no model is deployed).
"""

import time

import numpy as np
from interface import EdgeEstimator, digits, read_index

from sedna.common.config import Context
from sedna.core.incremental_learning import IncrementalLearning


def to_list(probabilities):
    return [float(p) for p in np.asarray(probabilities)[0]]


def one_pass(il, images, indexes, labels):
    """(accuracy, hard example ratio) of one pass over the stream."""
    correct = hard = 0
    for i, label in zip(indexes, labels, strict=True):
        _, result, is_hard = il.inference(images[i : i + 1], post_process=to_list)
        correct += int(int(np.argmax(result)) == label)
        hard += int(is_hard)
    return correct / len(labels), hard / len(labels)


def main():
    interval = float(Context.get_parameters("interval", "1"))
    max_seconds = float(Context.get_parameters("max_seconds", "300"))
    images, _ = digits()
    indexes, labels = read_index(Context.get_parameters("stream_url"))
    il = IncrementalLearning(estimator=EdgeEstimator)
    started = time.monotonic()
    passes = 0
    while time.monotonic() - started < max_seconds:
        reloads = il.hot_update_thread.reloads if il.hot_update_thread else 0
        accuracy, hard_ratio = one_pass(il, images, indexes, labels)
        passes += 1
        print(
            f"pass {passes}: accuracy {accuracy:.3f}, hard examples {hard_ratio:.3f}, model updates {reloads}"
        )
        if reloads:
            print(f"serving the hot-updated model: accuracy {accuracy:.3f}")
            return
        time.sleep(interval)


if __name__ == "__main__":
    main()
