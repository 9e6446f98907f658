"""Inference worker: answers the samples of ``infer_dataset_url`` in small batches.

Samples of a known task go to that task's model; samples far from every task the knowledge
base knows are an *unseen task*: they are answered by the global model, saved under
``unseen_save_url`` for labelling, and logged. The worker exits at the end of the stream.
"""

import numpy as np
from interface import Estimator, read_samples

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import BaseDataSource


def batches(source, size):
    for start in range(0, len(source.y), size):
        batch = BaseDataSource(data_type="test")
        batch.x = source.x.iloc[start : start + size].reset_index(drop=True)
        yield batch, source.y[start : start + size]


def main():
    attribute = Context.get_parameters("attribute", "domain")
    batch_size = int(Context.get_parameters("batch_size", "10"))
    ll = LifelongLearning(
        estimator=Estimator(),
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": [attribute]}},
        task_allocation={"method": "TaskAllocationByDataAttr", "param": {"attribute": [attribute]}},
    )
    stream = read_samples(Context.get_parameters("infer_dataset_url"))
    unseen_total = correct = 0
    for number, (batch, labels) in enumerate(batches(stream, batch_size), start=1):
        result, is_unseen_task, tasks = ll.inference(batch)
        correct += int((np.asarray(result) == labels).sum())
        unseen = sum(len(t.samples.x) for t in tasks if t.entry == "unseen")
        unseen_total += unseen
        served = ", ".join(f"{t.entry}: {len(t.samples.x)}" for t in tasks)
        print(f"batch {number}: {served}")
        if is_unseen_task:
            print(f"unseen task detected: {unseen} of {len(labels)} samples in batch {number}")
    print(f"done: {len(stream.y)} samples, {unseen_total} unseen, accuracy {correct / len(stream.y):.3f}")


if __name__ == "__main__":
    main()
