"""Sedna HEAD lifelong learning train worker, as HEAD's atcii example still writes it: the 0.4
keywords (``estimator=``, ``task_mining``, ``unseen_task_detect``) although HEAD's class takes
0.6's (pitfall 10)."""

import json

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import BaseConfig, Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def main():
    train_dataset_url = BaseConfig.train_dataset_url
    train_data = CSVDataParse(data_type="train", func=feature_process)
    train_data.parse(train_dataset_url, label=DATACONF["LABEL"])
    attribute = json.dumps({"attribute": DATACONF["ATTRIBUTES"]})
    early_stopping_rounds = int(
        Context.get_parameters("early_stopping_rounds", 100)
    )
    metric_name = Context.get_parameters("metric_name", "mlogloss")

    task_definition = {
        "method": "TaskDefinitionByDataAttr",
        "param": attribute
    }

    ll_job = LifelongLearning(
        estimator=Estimator,
        task_definition=task_definition,
        task_relationship_discovery=None,
        task_mining=None,
        task_remodeling=None,
        inference_integrate=None,
        unseen_task_detect=None)
    train_experiment = ll_job.train(
        train_data=train_data,
        metric_name=metric_name,
        early_stopping_rounds=early_stopping_rounds
    )

    return train_experiment


if __name__ == '__main__':
    print(main())
