"""Eval worker: scores the new and the deployed model (MODEL_URLS) on the round's eval samples."""

from interface import Estimator, digits, read_index

from sedna.common.config import BaseConfig
from sedna.core.incremental_learning import IncrementalLearning


def main():
    images, _ = digits()
    indexes, labels = read_index(BaseConfig.test_dataset_url)
    il = IncrementalLearning(estimator=Estimator())
    results = il.evaluate(data=(images[indexes], labels))
    for result in results:
        print(f"{result['url']}: {result['metrics']}")


if __name__ == "__main__":
    main()
