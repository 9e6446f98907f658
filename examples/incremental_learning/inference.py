"""Inference worker: answers the digits of ``stream_url`` pass after pass.

The model is hot-updated (MODEL_HOT_UPDATE): when the LC points ``model_config.json`` at a
newly trained model, the SDK swaps it in. After one more pass on the new model the worker
prints its accuracy and exits (``max_seconds`` bounds a run where no model is deployed).

Optionally (off by default) it feeds the next round, as an edge site does: with
``hard_example_index`` set to the Dataset's index file, the hard examples it meets are appended
there (``<digit index> <label>``, labelled as a person would label them later), starting
``collect_after_update`` seconds after the first hot update; ``updates_to_serve`` hot updates
are then awaited before it exits.
"""

import time

import numpy as np
from interface import EdgeEstimator, digits, read_index

from sedna.common.config import Context
from sedna.core.incremental_learning import IncrementalLearning


def to_list(probabilities):
    return [float(p) for p in np.asarray(probabilities)[0]]


def one_pass(il, images, indexes, labels):
    """(accuracy, the hard examples' (index, label)) of one pass over the stream."""
    correct = 0
    hard = []
    for i, label in zip(indexes, labels, strict=True):
        _, result, is_hard = il.inference(images[i : i + 1], post_process=to_list)
        correct += int(int(np.argmax(result)) == label)
        if is_hard:
            hard.append((int(i), int(label)))
    return correct / len(labels), hard


def collect(path, hard):
    """Append the hard examples to the Dataset's index: whole lines, flushed, so the LC that
    counts the file never sees half a line."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(f"{i} {label}\n" for i, label in hard))
        fh.flush()


def main():
    interval = float(Context.get_parameters("interval", "1"))
    max_seconds = float(Context.get_parameters("max_seconds", "300"))
    hard_example_index = Context.get_parameters("hard_example_index", "")
    collect_after = float(Context.get_parameters("collect_after_update", "0"))
    updates_to_serve = int(Context.get_parameters("updates_to_serve", "1"))
    images, _ = digits()
    indexes, labels = read_index(Context.get_parameters("stream_url"))
    il = IncrementalLearning(estimator=EdgeEstimator)
    started = time.monotonic()
    first_update = None
    passes = collected = 0
    while time.monotonic() - started < max_seconds:
        reloads = il.hot_update_thread.reloads if il.hot_update_thread else 0
        if reloads and first_update is None:
            first_update = time.monotonic()
        accuracy, hard = one_pass(il, images, indexes, labels)
        passes += 1
        if hard_example_index and first_update is not None and time.monotonic() - first_update >= collect_after:
            collect(hard_example_index, hard)
            collected += len(hard)
        print(
            f"pass {passes}: accuracy {accuracy:.3f}, hard examples {len(hard) / len(labels):.3f}, "
            f"model updates {reloads}, collected {collected}",
            flush=True,
        )
        if reloads >= updates_to_serve:
            print(f"serving the hot-updated model: accuracy {accuracy:.3f}")
            return
        time.sleep(interval)


if __name__ == "__main__":
    main()
