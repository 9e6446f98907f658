"""A Sedna 0.5 federated-learning trainer over an ``(x, y)`` pair of numpy arrays."""

from interface import Estimator, load_index

from sedna.common.config import BaseConfig, Context
from sedna.core.federated_learning import FederatedLearning


def main():
    train_data = load_index(BaseConfig.train_dataset_url)
    valid_data = load_index(Context.get_parameters("test_dataset_url"))
    epochs = int(Context.get_parameters("epochs", 1))
    aggregation_algorithm = Context.get_parameters("aggregation_algorithm", "FedAvg")

    fl_model = FederatedLearning(estimator=Estimator, aggregation=aggregation_algorithm)
    return fl_model.train(train_data=train_data, valid_data=valid_data, epochs=epochs)


if __name__ == '__main__':
    main()
