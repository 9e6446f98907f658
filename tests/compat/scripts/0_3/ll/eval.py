"""Sedna 0.3 lifelong learning eval worker (atcii): 0.3's ``model_threshold`` keyword."""

import json

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import BaseConfig
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def main():
    test_dataset_url = BaseConfig.test_dataset_url
    valid_data = CSVDataParse(data_type="valid", func=feature_process)
    valid_data.parse(test_dataset_url, label=DATACONF["LABEL"])
    attribute = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})
    ll_job = LifelongLearning(
        estimator=Estimator,
        task_definition="TaskDefinitionByDataAttr",
        task_definition_param=attribute
    )
    eval_experiment = ll_job.evaluate(
        data=valid_data, metrics="precision_score",
        metrics_param={"average": "micro"},
        model_threshold=0.5
    )
    return eval_experiment


if __name__ == '__main__':
    print(main())
