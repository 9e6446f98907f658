"""Inference worker: answers the samples of ``infer_dataset_url`` in small batches.

Samples of a known task go to that task's model; samples far from every task the knowledge
base knows are an *unseen task*: they are answered by the global model, saved under
``unseen_save_url`` for labelling, and logged. The worker exits at the end of the stream.

Optionally (off by default) it feeds the next round, as an edge site does: with
``unseen_sample_index`` set to the Dataset's index file, every sample recognised as unseen is
appended there once (its stream line, labelled as a person would label it later), starting
``collect_after_seconds`` after the worker started; samples are then answered one at a time,
and the stream is served again and again for ``serve_seconds``.
"""

import time

import numpy as np
from interface import Estimator, read_samples

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import BaseDataSource


def batches(source, size):
    for start in range(0, len(source.y), size):
        batch = BaseDataSource(data_type="test")
        batch.x = source.x.iloc[start : start + size].reset_index(drop=True)
        yield start, batch, source.y[start : start + size]


def main():
    attribute = Context.get_parameters("attribute", "domain")
    batch_size = int(Context.get_parameters("batch_size", "10"))
    unseen_index = Context.get_parameters("unseen_sample_index", "")
    collect_after = float(Context.get_parameters("collect_after_seconds", "0"))
    serve_seconds = float(Context.get_parameters("serve_seconds", "0"))
    if unseen_index:
        batch_size = 1  # a sample's line is appended only when that very sample is unseen
    ll = LifelongLearning(
        estimator=Estimator(),
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": [attribute]}},
        task_allocation={"method": "TaskAllocationByDataAttr", "param": {"attribute": [attribute]}},
    )
    stream_url = Context.get_parameters("infer_dataset_url")
    stream = read_samples(stream_url)
    with open(stream_url, encoding="utf-8") as fh:
        lines = [line.strip() for line in fh if line.strip()]
    started = time.monotonic()
    passes = 0
    collected: set[int] = set()  # stream positions already appended
    while True:
        passes += 1
        unseen_total = correct = 0
        for number, (start, batch, labels) in enumerate(batches(stream, batch_size), start=1):
            result, is_unseen_task, tasks = ll.inference(batch)
            correct += int((np.asarray(result) == labels).sum())
            unseen = sum(len(t.samples.x) for t in tasks if t.entry == "unseen")
            unseen_total += unseen
            served = ", ".join(f"{t.entry}: {len(t.samples.x)}" for t in tasks)
            print(f"batch {number}: {served}")
            if is_unseen_task:
                print(f"unseen task detected: {unseen} of {len(labels)} samples in batch {number}")
                if unseen_index and start not in collected and time.monotonic() - started >= collect_after:
                    with open(unseen_index, "a", encoding="utf-8") as out:
                        out.write(lines[start] + "\n")  # whole lines, flushed: the LC counts them
                    collected.add(start)
        print(
            f"done: {len(stream.y)} samples, {unseen_total} unseen, accuracy {correct / len(stream.y):.3f}"
            + (f", collected {len(collected)}" if unseen_index else ""),
            flush=True,
        )
        if time.monotonic() - started >= serve_seconds:
            return


if __name__ == "__main__":
    main()
