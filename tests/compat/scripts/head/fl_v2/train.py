"""A Sedna 0.4+ FederatedLearningV2 trainer: ``FederatedLearningV2(...).run()``."""

from interface import Dataset, Estimator, fedavg, load_index, transmitter

from sedna.common.config import BaseConfig, Context
from sedna.core.federated_learning import FederatedLearningV2


def main():
    data = Dataset(trainset=load_index(BaseConfig.train_dataset_url),
                   testset=load_index(Context.get_parameters("test_dataset_url")))
    estimator = Estimator()

    fl_model = FederatedLearningV2(
        data=data,
        estimator=estimator,
        aggregation=fedavg,
        transmitter=transmitter)

    fl_model.run()


if __name__ == '__main__':
    main()
