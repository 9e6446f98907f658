"""Sedna 0.3 eval worker: scores the models of ``MODEL_URLS`` on the round's eval samples.

The eval data is read as ``test`` data with ``use_raw=True``, from ``test_dataset_url`` (the
lower-case name of ``TEST_DATASET_URL``); the estimator opens each ``model_path`` itself and
answers ``{"precision": float, "recall": float}``.
"""

from interface import Estimator

from sedna.common.config import Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def _load_txt_dataset(line):
    return line.strip()


def main():
    test_dataset_url = Context.get_parameters('test_dataset_url')
    valid_data = TxtDataParse(data_type="test", func=_load_txt_dataset)
    valid_data.parse(test_dataset_url, use_raw=True)

    model = IncrementalLearning(estimator=Estimator)
    return model.evaluate(valid_data)


if __name__ == '__main__':
    main()
