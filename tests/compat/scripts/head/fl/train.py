"""A Sedna HEAD federated-learning trainer."""

from interface import Estimator, load

from sedna.common.config import BaseConfig, Context
from sedna.core.federated_learning import FederatedLearning


def main():
    epochs = int(Context.get_parameters("epochs", 5))
    train_data = load(BaseConfig.train_dataset_url)
    test_data = load(Context.get_parameters("test_dataset_url"))
    fl_model = FederatedLearning(estimator=Estimator(epochs), aggregation="FedAvg")
    fl_model.train(train_data=train_data, valid_data=test_data)


if __name__ == "__main__":
    main()
