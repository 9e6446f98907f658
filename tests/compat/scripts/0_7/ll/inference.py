"""Sedna 0.7 lifelong learning inference worker: batches of ten rows; ``is_unseen_task`` of a
batch is Sedna 0.6+'s per-sample ``{key: bool}``, keyed by the batch's rows."""

import csv

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse

BATCH = 10


def unseen_task_processing():
    return "unseen"


def predict():
    ll_job = LifelongLearning(
        Estimator(),
        unseen_estimator=unseen_task_processing,
        task_allocation={"method": "TaskAllocationByDataAttr"},
        unseen_task_allocation={"method": "UnseenTaskAllocationDefault"},
        unseen_sample_recognition={"method": "SampleRegonitionByDistance", "param": {"factor": 1.5}})
    infer_dataset_url = Context.get_parameters("infer_dataset_url")
    with open(infer_dataset_url, encoding="utf-8") as fin:
        reader = csv.reader(fin)
        header = next(reader)
        records = [dict(zip(header, row, strict=False)) for row in reader]
    with open(f"{infer_dataset_url}_out.csv", "w", encoding="utf-8") as fout:
        fout.write("\t".join(header + ["prediction", "unseen"]) + "\n")
        for start in range(0, len(records), BATCH):
            chunk = records[start:start + BATCH]
            data = CSVDataParse(data_type="test", func=feature_process)
            data.parse([dict(r) for r in chunk], label=DATACONF["LABEL"])
            pred, is_unseen_task, tasks = ll_job.inference(data)
            if is_unseen_task:
                print(f"rows {start}-{start + len(chunk) - 1}: unseen task detected")
            for i, record in enumerate(chunk):
                flag = is_unseen_task[data.x.index[i]]
                fout.write("\t".join([*record.values(), str(pred[i]), "1" if flag else "0"]) + "\n")


if __name__ == '__main__':
    predict()
