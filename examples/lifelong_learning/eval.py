"""Eval worker: scores each task model on its samples; tasks above ``model_threshold`` deploy."""

from interface import Estimator, read_samples

from sedna.common.config import BaseConfig, Context
from sedna.core.lifelong_learning import LifelongLearning


def main():
    attribute = Context.get_parameters("attribute", "domain")
    metrics = Context.get_parameters("metrics", "accuracy_score")
    ll = LifelongLearning(
        estimator=Estimator(),
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": [attribute]}},
        task_allocation={"method": "TaskAllocationByDataAttr", "param": {"attribute": [attribute]}},
    )
    scores, details = ll.evaluate(read_samples(BaseConfig.test_dataset_url), metrics=metrics)
    for detail in details:
        print(
            f"task {detail['entry']}: {detail['samples']} samples, score {detail['metrics']}, deploy {detail['deploy']}"
        )


if __name__ == "__main__":
    main()
