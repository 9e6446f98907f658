"""Sedna 0.6 train worker.

``TxtDataParse(data_type="train", func=...)`` + ``.parse(url, use_raw=True)``: the func's
``(index, label)`` pair is kept whole as the sample; hyperparameters read with
``Context.get_parameters(name, default)`` go to ``train`` as keywords.
"""

from interface import Estimator

from sedna.common.config import BaseConfig, Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def image_and_label(line):
    index, label = line.split()
    return int(index), int(label)


def main():
    train_data = TxtDataParse(data_type="train", func=image_and_label)
    train_data.parse(BaseConfig.train_dataset_url, use_raw=True)

    epochs = int(Context.get_parameters("epochs", 10))
    learning_rate = float(Context.get_parameters("learning_rate", 0.5))

    incremental_instance = IncrementalLearning(estimator=Estimator)
    return incremental_instance.train(
        train_data=train_data, valid_data=None, epochs=epochs, learning_rate=learning_rate)


if __name__ == "__main__":
    main()
