"""Sedna HEAD train worker (dog-croissants style): the base model and the output location are
read with ``Context.get_parameters("base_model_url")`` / ``("model_url")`` (lower-case names of
``BASE_MODEL_URL``/``MODEL_URL``) and handed to the estimator's ``train`` as keywords, with
a validation set; the data sources are the user's ``DigitsDataset``."""

import os

from interface import DigitsDataset, Estimator

from sedna.common.config import Context
from sedna.core.incremental_learning import IncrementalLearning


def main():
    # base_model_url means the low accuracy model
    base_model_url = Context.get_parameters("base_model_url")
    # model_url is where the trained checkpoint is written, for estimator.save
    trained_ckpt_url = os.path.join(Context.get_parameters("model_url"), "ckpt")
    epochs = int(Context.get_parameters('epochs'))

    train_data = DigitsDataset(data_type="train").parse(path=Context.get_parameters("train_dataset_url"))
    valid_data = DigitsDataset(data_type="eval").parse(path=Context.get_parameters("train_dataset_url"))
    incremental_instance = IncrementalLearning(estimator=Estimator)
    return incremental_instance.train(train_data=train_data,
                                      base_model_url=base_model_url,
                                      trained_ckpt_url=trained_ckpt_url,
                                      valid_data=valid_data,
                                      epochs=epochs)


if __name__ == "__main__":
    main()
    print("train_phase_done")
