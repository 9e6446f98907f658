"""Sedna 0.4 train worker (helmet-detection style).

``BaseConfig.train_dataset_url``, ``TxtDataParse(data_type="train", func=...)`` with
``.parse(url, use_raw=True)`` (each record is what ``func`` returns: the line's tokens), the
hyperparameters from ``Context.get_parameters`` passed to ``train`` as keywords, extra ones
(``class_names``) included: the estimator takes what it needs.
"""

from interface import Estimator

from sedna.common.config import BaseConfig, Context
from sedna.core.incremental_learning import IncrementalLearning
from sedna.datasources import TxtDataParse


def _load_txt_dataset(line):
    return line.split()


def main():
    class_names = Context.get_parameters("class_names")

    train_dataset_url = BaseConfig.train_dataset_url
    train_data = TxtDataParse(data_type="train", func=_load_txt_dataset)
    train_data.parse(train_dataset_url, use_raw=True)

    epochs = Context.get_parameters('epochs')
    batch_size = Context.get_parameters('batch_size')

    model = IncrementalLearning(estimator=Estimator)
    return model.train(train_data=train_data, epochs=epochs,
                       batch_size=batch_size,
                       class_names=class_names)


if __name__ == '__main__':
    main()
