"""Sedna 0.3 train worker: fine-tunes on the round's samples (helmet-detection style).

``TxtDataParse(data_type="train", func=...)`` with ``.parse(url, use_raw=True)`` keeps each
record whole; hyperparameters come from ``Context.get_parameters`` (lower-case names, strings)
and go to ``train`` as keywords; ``IncrementalLearning(estimator=..., config=None)`` (0.3).
"""

from interface import Estimator

from sedna.common.config import BaseConfig, Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def _load_txt_dataset(line):
    return line.strip()


def main():
    train_dataset_url = BaseConfig.train_dataset_url
    train_data = TxtDataParse(data_type="train", func=_load_txt_dataset)
    train_data.parse(train_dataset_url, use_raw=True)

    epochs = Context.get_parameters('epochs')

    model = IncrementalLearning(estimator=Estimator, config=None)
    return model.train(train_data=train_data, epochs=epochs)


if __name__ == '__main__':
    main()
