"""Sedna 0.6 lifelong learning eval worker: ``evaluate`` with a metric function."""

from interface import DATACONF, Estimator, feature_process
from sklearn.metrics import accuracy_score

from sedna.common.config import BaseConfig
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import CSVDataParse


def eval():
    estimator = Estimator()
    eval_data = CSVDataParse(data_type="eval", func=feature_process)
    eval_data.parse(BaseConfig.test_dataset_url, label=DATACONF["LABEL"])

    task_allocation = {
        "method": "TaskAllocationByDataAttr",
        "param": {"attribute": DATACONF["ATTRIBUTES"]}
    }

    ll_job = LifelongLearning(estimator,
                              task_definition=None,
                              task_relationship_discovery=None,
                              task_allocation=task_allocation,
                              task_remodeling=None,
                              inference_integrate=None,
                              task_update_decision=None,
                              unseen_task_allocation=None,
                              unseen_sample_recognition=None,
                              unseen_sample_re_recognition=None
                              )
    ll_job.evaluate(eval_data, metrics=accuracy_score)


if __name__ == '__main__':
    eval()
