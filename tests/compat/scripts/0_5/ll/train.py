"""Sedna 0.5 lifelong learning train worker (atcii v0.5.1): dict methods, ``param`` a dict;
``task_mining`` without a method (Sedna pairs it with the definition)."""

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import BaseConfig, Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def main():
    train_dataset_url = BaseConfig.train_dataset_url
    train_data = CSVDataParse(data_type="train", func=feature_process)
    train_data.parse(train_dataset_url, label=DATACONF["LABEL"])
    early_stopping_rounds = int(
        Context.get_parameters("early_stopping_rounds", 100)
    )
    metric_name = Context.get_parameters("metric_name", "mlogloss")

    task_definition = {
        "method": "TaskDefinitionByDataAttr",
        "param": {"attribute": DATACONF["ATTRIBUTES"]}
    }
    task_mining = {"param": {}}

    ll_job = LifelongLearning(
        estimator=Estimator(),
        task_definition=task_definition,
        task_relationship_discovery={"method": "DefaultTaskRelationDiscover"},
        task_mining=task_mining,
        task_remodeling={"method": "DefaultTaskRemodeling"},
        inference_integrate={"method": "DefaultInferenceIntegrate"},
        unseen_task_detect={"method": "TaskAttrFilter"})
    train_experiment = ll_job.train(
        train_data=train_data,
        metric_name=metric_name,
        early_stopping_rounds=early_stopping_rounds
    )
    return train_experiment


if __name__ == '__main__':
    print(main())
