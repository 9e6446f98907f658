"""Sedna HEAD lifelong learning inference worker, robot-delivery style (pitfall 10: HEAD's
examples mix the APIs): positional estimator, ``task_allocation``, a callable
``unseen_estimator``; the rows answered in batches of 30."""

import csv

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def unseen_task_processing():
    return "Warning: unseen sample detected."


def main():
    ll_job = LifelongLearning(
        Estimator,
        unseen_estimator=unseen_task_processing,
        task_definition=None,
        task_relationship_discovery=None,
        task_allocation={"method": "TaskAllocationByDataAttr",
                         "param": {"attribute": DATACONF["ATTRIBUTES"]}},
        task_remodeling=None,
        inference_integrate=None,
        task_update_decision=None,
        unseen_task_allocation={"method": "UnseenTaskAllocationDefault"},
        unseen_sample_recognition=None,
        unseen_sample_re_recognition=None)
    infer_dataset_url = Context.get_parameters("infer_dataset_url")
    with open(infer_dataset_url, encoding="utf-8") as fin:
        reader = csv.reader(fin)
        header = next(reader)
        records = [dict(zip(header, row, strict=False)) for row in reader]
    with open(f"{infer_dataset_url}_out.csv", "w", encoding="utf-8") as fout:
        fout.write("\t".join(header + ["prediction", "unseen"]) + "\n")
        for start in range(0, len(records), 30):
            chunk = records[start:start + 30]
            data = CSVDataParse(data_type="test", func=feature_process)
            data.parse([dict(r) for r in chunk], label=DATACONF["LABEL"])
            pred, is_unseen_task, _ = ll_job.inference(data)
            flags = [is_unseen_task[k] for k in data.x.index]
            for record, answer, flag in zip(chunk, pred, flags, strict=True):
                fout.write("\t".join([*record.values(), str(answer), "1" if flag else "0"]) + "\n")


if __name__ == '__main__':
    main()
