"""Sedna 0.7 lifelong learning train worker: positional ``seen_estimator``; the update strategy
registered by importing its module first (pitfall 11) and given with its ``attribute``."""

from interface import DATACONF, Estimator, feature_process

import sedna.algorithms.seen_task_learning.task_update_decision  # noqa: F401 - registers it
from sedna.common.config import BaseConfig
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def train(estimator, train_data):
    task_definition = {
        "method": "TaskDefinitionByDataAttr",
        "param": {"attribute": DATACONF["ATTRIBUTES"]}
    }
    task_allocation = {
        "method": "TaskAllocationByDataAttr"
    }
    task_update_decision = {
        "method": "UpdateStrategyByFinetune",
        "param": {"attribute": ", ".join(DATACONF["ATTRIBUTES"])}
    }
    ll_job = LifelongLearning(estimator,
                              task_definition=task_definition,
                              task_relationship_discovery=None,
                              task_allocation=task_allocation,
                              task_remodeling=None,
                              inference_integrate=None,
                              task_update_decision=task_update_decision,
                              unseen_task_allocation=None,
                              unseen_sample_recognition=None,
                              unseen_sample_re_recognition=None
                              )
    ll_job.train(train_data)


def run():
    train_data = CSVDataParse(data_type="train", func=feature_process)
    train_data.parse(BaseConfig.train_dataset_url, label=DATACONF["LABEL"])
    train(Estimator(), train_data)


if __name__ == '__main__':
    run()
