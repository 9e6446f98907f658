"""Train worker: one task per ``domain``, a model per task, the task index into the KB."""

from interface import Estimator, read_samples

from sedna.common.config import BaseConfig, Context
from sedna.core.lifelong_learning import LifelongLearning


def main():
    epochs = int(Context.get_parameters("epochs", 150))
    attribute = Context.get_parameters("attribute", "domain")
    task_definition = {"method": "TaskDefinitionByDataAttr", "param": {"attribute": [attribute]}}
    task_allocation = {"method": "TaskAllocationByDataAttr", "param": {"attribute": [attribute]}}
    train_data = read_samples(BaseConfig.train_dataset_url)
    ll = LifelongLearning(
        estimator=Estimator(epochs=epochs), task_definition=task_definition, task_allocation=task_allocation
    )
    ll.train(train_data)


if __name__ == "__main__":
    main()
