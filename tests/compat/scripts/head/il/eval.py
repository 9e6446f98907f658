"""Sedna HEAD eval worker (dog-croissants style): a user data source, extra keywords for the
estimator's ``evaluate``, and ``{"acc": float}`` per model of ``MODEL_URLS``."""

from interface import DigitsDataset, Estimator

from sedna.common.config import Context
from sedna.core.incremental_learning import IncrementalLearning


def main():
    class_names = Context.get_parameters("class_name")
    input_shape = int(Context.get_parameters("input_shape"))
    test_data = DigitsDataset(data_type="eval").parse(path=Context.get_parameters("test_dataset_url"))
    incremental_instance = IncrementalLearning(estimator=Estimator)
    return incremental_instance.evaluate(test_data,
                                         class_names=class_names,
                                         input_shape=input_shape)


if __name__ == "__main__":
    main()
