"""Sedna 0.4 eval worker (helmet-detection style): ``evaluate(valid_data, class_names=...)``;
the estimator's ``evaluate`` names its data ``valid_data``."""

from interface import Estimator

from sedna.common.config import Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def _load_txt_dataset(line):
    return line.split()


def main():
    test_dataset_url = Context.get_parameters('test_dataset_url')
    valid_data = TxtDataParse(data_type="test", func=_load_txt_dataset)
    valid_data.parse(test_dataset_url, use_raw=True)

    class_names = Context.get_parameters("class_names")
    class_names = [label.strip() for label in class_names.split(',')]

    model = IncrementalLearning(estimator=Estimator)
    return model.evaluate(valid_data, class_names=class_names)


if __name__ == '__main__':
    main()
