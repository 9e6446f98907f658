"""Sedna 0.6 eval worker: ``{"accuracy": float}`` per model of ``MODEL_URLS``."""

from interface import Estimator

from sedna.common.config import BaseConfig
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def image_and_label(line):
    index, label = line.split()
    return int(index), int(label)


def main():
    eval_data = TxtDataParse(data_type="eval", func=image_and_label)
    eval_data.parse(BaseConfig.test_dataset_url, use_raw=True)

    incremental_instance = IncrementalLearning(estimator=Estimator)
    results = incremental_instance.evaluate(eval_data)
    for result in results:
        print(f"{result['url']}: {result['metrics']}")


if __name__ == "__main__":
    main()
