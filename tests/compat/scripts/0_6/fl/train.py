"""A Sedna 0.6 federated-learning trainer: an estimator instance and ``[x, y]`` lists."""

from interface import Estimator, load_index

from sedna.common.config import BaseConfig, Context
from sedna.core.federated_learning import FederatedLearning


def main():
    train_data = load_index(BaseConfig.train_dataset_url)
    valid_data = load_index(Context.get_parameters("test_dataset_url"))
    estimator = Estimator(epochs=int(Context.get_parameters("epochs", 1)))

    fl_model = FederatedLearning(
        estimator=estimator,
        aggregation=Context.get_parameters("aggregation_algorithm", "FedAvg"))
    fl_model.train(train_data=train_data, valid_data=valid_data)


if __name__ == '__main__':
    main()
