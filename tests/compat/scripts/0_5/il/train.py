"""Sedna 0.5 train worker.

``TxtDataParse(data_type="train", func=...)`` whose func returns the (sample, label) pair (no
``use_raw``: x and y are split by the parser); ``epochs`` goes to ``train`` and reaches the
estimator's constructor; ``post_process`` names a registered CALLBACK (the only form Sedna's
``train`` accepts).
"""

from interface import Estimator

from sedna.common.config import BaseConfig, Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def parse_line(line):
    index, label = line.split()
    return int(index), int(label)


def main():
    train_data = TxtDataParse(data_type="train", func=parse_line)
    train_data.parse(BaseConfig.train_dataset_url)

    epochs = int(Context.get_parameters("epochs", 1))
    incremental_instance = IncrementalLearning(estimator=Estimator)
    return incremental_instance.train(train_data=train_data, epochs=epochs, post_process="log_trained_model")


if __name__ == "__main__":
    main()
