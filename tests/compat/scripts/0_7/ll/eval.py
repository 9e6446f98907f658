"""Sedna 0.7 lifelong learning eval worker: metric names in a list with their params."""

from interface import DATACONF, Estimator, feature_process

from sedna.common.config import BaseConfig
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def eval():
    eval_data = CSVDataParse(data_type="eval", func=feature_process)
    eval_data.parse(BaseConfig.test_dataset_url, label=DATACONF["LABEL"])
    ll_job = LifelongLearning(Estimator(),
                              task_definition={"method": "TaskDefinitionByDataAttr",
                                               "param": {"attribute": DATACONF["ATTRIBUTES"]}},
                              task_allocation={"method": "TaskAllocationByDataAttr"})
    ll_job.evaluate(eval_data, metrics=["precision_score", "recall_score"],
                    metrics_param={"average": "micro"})


if __name__ == '__main__':
    eval()
