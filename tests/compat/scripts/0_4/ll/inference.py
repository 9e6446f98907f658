"""Sedna 0.4 lifelong learning inference worker (atcii v0.4.3): ``task_mining`` and
``unseen_task_detect`` dicts, one CSV row at a time. Unlike atcii it stops at the end of the file."""

import csv
import json
import os

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def main():
    utd = Context.get_parameters("UTD_NAME", "TaskAttrFilter")
    attribute = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})
    utd_parameters = Context.get_parameters("UTD_PARAMETERS", {})
    ut_saved_url = Context.get_parameters("UTD_SAVED_URL", "/tmp")

    task_mining = {
        "method": "TaskMiningByDataAttr",
        "param": attribute
    }

    unseen_task_detect = {
        "method": utd,
        "param": utd_parameters
    }

    ll_service = LifelongLearning(
        estimator=Estimator,
        task_mining=task_mining,
        task_definition=None,
        task_relationship_discovery=None,
        task_remodeling=None,
        inference_integrate=None,
        unseen_task_detect=unseen_task_detect)

    infer_dataset_url = Context.get_parameters('infer_dataset_url')
    file_handle = open(infer_dataset_url, encoding="utf-8")
    header = list(csv.reader([file_handle.readline().strip()]))[0]
    infer_data = CSVDataParse(data_type="test", func=feature_process)

    os.makedirs(ut_saved_url, exist_ok=True)
    unseen_sample = open(os.path.join(ut_saved_url, "unseen_sample.csv"), "w", encoding="utf-8")
    unseen_sample.write("\t".join(header) + "\n")
    output_sample = open(f"{infer_dataset_url}_out.csv", "w", encoding="utf-8")
    output_sample.write("\t".join(header + ["prediction", "unseen"]) + "\n")

    for line in file_handle:
        rows = list(csv.reader([line.strip()]))[0]
        data = dict(zip(header, rows, strict=False))
        infer_data.parse(data, label=DATACONF["LABEL"])
        rsl, is_unseen, target_task = ll_service.inference(infer_data)
        rows.append(str(list(rsl)[0]))
        rows.append("1" if is_unseen else "0")
        if is_unseen:
            unseen_sample.write("\t".join(map(str, rows)) + "\n")
        output_sample.write("\t".join(map(str, rows)) + "\n")
    output_sample.close()
    unseen_sample.close()


if __name__ == '__main__':
    main()
