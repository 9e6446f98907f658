"""Eval worker: scores each task model on its samples; tasks scoring below ``model_threshold``
are left out of the deployed index.

It also measures the lifelong-learning quality and reports it with the eval result
(``quality``): the seen-task accuracy (every sample of a known domain, answered by its task
model) and the unseen-task F1 (whether samples of a domain no task was trained on are
recognised as unseen). The round's eval samples only hold known domains, so the samples of
``probe_dataset_url`` (the stream, with its ``noisy`` domain) are evaluated with them.
"""

import pandas as pd
from interface import Estimator, read_samples

from sedna.common.config import BaseConfig, Context
from sedna.core.lifelong_learning import LifelongLearning
from sedna.datasources import BaseDataSource


def combine(*sources):
    """One data source holding the samples of ``sources`` in order."""
    out = BaseDataSource(data_type="eval")
    out.x = pd.concat([s.x for s in sources], ignore_index=True)
    out.y = pd.concat([pd.Series(s.y) for s in sources], ignore_index=True).to_numpy()
    return out


def main():
    attribute = Context.get_parameters("attribute", "domain")
    metrics = Context.get_parameters("metrics", "accuracy_score")
    probe_url = Context.get_parameters("probe_dataset_url", "")
    ll = LifelongLearning(
        estimator=Estimator(),
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": [attribute]}},
        task_allocation={"method": "TaskAllocationByDataAttr", "param": {"attribute": [attribute]}},
    )
    data = read_samples(BaseConfig.test_dataset_url)
    if probe_url:
        data = combine(data, read_samples(probe_url))
    scores, details = ll.evaluate(data, metrics=metrics)
    for detail in details:
        print(
            f"task {detail['entry']}: {detail['samples']} samples, score {detail['metrics']}, deploy {detail['deploy']}"
        )
    quality = ll.quality
    print(f"seen-task accuracy {quality['seen_task_accuracy']:.3f} ({quality['seen_samples']} samples)")
    if "unseen_f1" in quality:
        print(
            f"unseen-task F1 {quality['unseen_f1']:.3f} ({quality['unseen_samples']} unseen samples,"
            f" {quality['unseen_detected']} detected)"
        )


if __name__ == "__main__":
    main()
