"""Train worker: fine-tunes the base model on the round's new samples (TRAIN_DATASET_URL)."""

from interface import Estimator, digits, read_index

from sedna.common.config import BaseConfig, Context
from sedna.core.incremental_learning import IncrementalLearning


def main():
    epochs = int(Context.get_parameters("epochs", 150))
    images, _ = digits()
    indexes, labels = read_index(BaseConfig.train_dataset_url)
    il = IncrementalLearning(estimator=Estimator(epochs=epochs))
    il.train(train_data=(images[indexes], labels))


if __name__ == "__main__":
    main()
