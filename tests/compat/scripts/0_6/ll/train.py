"""Sedna 0.6 lifelong learning train worker: positional ``seen_estimator``, ``task_allocation``
and the 0.6 steps spelled out (None: their defaults)."""

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import BaseConfig, Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def train(estimator, train_data):
    task_definition = {
        "method": "TaskDefinitionByDataAttr",
        "param": {"attribute": DATACONF["ATTRIBUTES"]}
    }

    task_allocation = {
        "method": "TaskAllocationByDataAttr",
        "param": {"attribute": DATACONF["ATTRIBUTES"]}
    }

    ll_job = LifelongLearning(estimator,
                              task_definition=task_definition,
                              task_relationship_discovery=None,
                              task_allocation=task_allocation,
                              task_remodeling=None,
                              inference_integrate=None,
                              task_update_decision=None,
                              unseen_task_allocation=None,
                              unseen_sample_recognition=None,
                              unseen_sample_re_recognition=None
                              )

    ll_job.train(train_data)


def run():
    estimator = Estimator(max_iter=int(Context.get_parameters("max_iter", 1000)))
    train_data = CSVDataParse(data_type="train", func=feature_process)
    train_data.parse(BaseConfig.train_dataset_url, label=DATACONF["LABEL"])
    train(estimator, train_data)


if __name__ == '__main__':
    run()
