"""Sedna 0.7 eval worker: ``BaseConfig.test_dataset_url``, a pair-returning parse func, and
``{"accuracy": [float], "error_rate": [float]}`` metrics per model of ``MODEL_URLS``."""

from interface import Estimator

from sedna.common.config import BaseConfig
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def parse_line(line):
    index, label = line.split()
    return int(index), int(label)


def main():
    eval_data = TxtDataParse(data_type="eval", func=parse_line)
    eval_data.parse(BaseConfig.test_dataset_url)

    incremental_instance = IncrementalLearning(estimator=Estimator)
    return incremental_instance.evaluate(eval_data)


if __name__ == "__main__":
    main()
