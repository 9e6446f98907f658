"""Inference worker: answers the samples of ``infer_dataset_url`` in small batches.

Samples of a known task go to that task's model; samples far from every task the knowledge
base knows are an *unseen task*: they are answered by the global model, saved under
``unseen_save_url`` for labelling, and logged. The worker exits at the end of the stream,
after printing its quality: the seen-task accuracy (samples of a domain the knowledge base
has a task for) and the unseen-task F1 (the other samples against the unseen verdicts).

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


def per_sample(is_unseen_task, batch):
    """The unseen verdict of each sample: one sample gets a bool, a batch per-row flags."""
    if isinstance(is_unseen_task, bool):
        return [is_unseen_task] * len(batch.x)
    return [bool(is_unseen_task[k]) for k in batch.x.index]


def f1(truth, predicted):
    """F1 of the unseen verdicts (nan when nothing is unseen and nothing was flagged)."""
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    wrong = sum(t != p for t, p in zip(truth, predicted, strict=True))
    return 2 * tp / (2 * tp + wrong) if tp or wrong else float("nan")


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
        truth, verdicts, seen_hits = [], [], []
        for number, (start, batch, labels) in enumerate(batches(stream, batch_size), start=1):
            result, is_unseen_task, tasks = ll.inference(batch)
            correct += int((np.asarray(result) == labels).sum())
            known = {g.entry for g in ll.index["task_groups"]}
            unknown = [d not in known for d in batch.x[attribute]]
            truth += unknown
            verdicts += per_sample(is_unseen_task, batch)
            seen_hits += [bool(r == y) for r, y, u in zip(result, labels, unknown, strict=True) if not u]
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
        print(
            f"quality: seen-task accuracy {np.mean(seen_hits) if seen_hits else float('nan'):.3f},"
            f" unseen-task F1 {f1(truth, verdicts):.3f}",
            flush=True,
        )
        if time.monotonic() - started >= serve_seconds:
            return


if __name__ == "__main__":
    main()
