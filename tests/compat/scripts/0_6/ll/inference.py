"""Sedna 0.6 lifelong learning inference worker: a callable ``unseen_estimator`` (called with no
arguments) answers unseen samples; one sample gives a bool, a batch Sedna 0.6's per-sample
flags; ``unseen_sample_postprocess`` keeps the unseen samples."""

import csv
import os

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse

UNSEEN_ANSWER = "Warning: unseen sample detected."


def unseen_task_processing():
    return UNSEEN_ANSWER


def unseen_sample_postprocess(sample, save_dir):
    with open(os.path.join(save_dir, "unseen_samples.csv"), "a", encoding="utf-8") as fout:
        fout.write(",".join(map(str, sample.tolist())) + "\n")


def init_ll_job():
    estimator = Estimator()
    task_allocation = {
        "method": "TaskAllocationByDataAttr",
        "param": {"attribute": DATACONF["ATTRIBUTES"]}
    }
    unseen_task_allocation = {
        "method": "UnseenTaskAllocationDefault"
    }
    ll_job = LifelongLearning(
        estimator,
        unseen_estimator=unseen_task_processing,
        task_definition=None,
        task_relationship_discovery=None,
        task_allocation=task_allocation,
        task_remodeling=None,
        inference_integrate=None,
        task_update_decision=None,
        unseen_task_allocation=unseen_task_allocation,
        unseen_sample_recognition=None,
        unseen_sample_re_recognition=None)
    return ll_job


def predict():
    ll_job = init_ll_job()
    infer_dataset_url = Context.get_parameters("infer_dataset_url")
    with open(infer_dataset_url, encoding="utf-8") as fin:
        reader = csv.reader(fin)
        header = next(reader)
        records = [dict(zip(header, row, strict=False)) for row in reader]
    with open(f"{infer_dataset_url}_out.csv", "w", encoding="utf-8") as fout:
        fout.write("\t".join(header + ["prediction", "unseen"]) + "\n")
        for record in records:
            data = CSVDataParse(data_type="test", func=feature_process)
            data.parse(dict(record), label=DATACONF["LABEL"])
            pred, is_unseen_task, _ = ll_job.inference(
                data, unseen_sample_postprocess=unseen_sample_postprocess)
            assert isinstance(is_unseen_task, bool)
            answer = pred[0]
            fout.write("\t".join([*record.values(), str(answer), "1" if is_unseen_task else "0"]) + "\n")
    batch = CSVDataParse(data_type="test", func=feature_process)
    batch.parse([dict(r) for r in records], label=DATACONF["LABEL"])
    pred, is_unseen_task, tasks = ll_job.inference(batch)
    print(f"batch of {len(records)}: {sum(is_unseen_task.values())} unseen samples,"
          f" {sum(p == UNSEEN_ANSWER for p in pred)} answered as unseen")


if __name__ == '__main__':
    predict()
