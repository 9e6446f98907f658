"""Sedna 0.4+'s ``FederatedLearningV2(data, estimator, aggregation, transmitter)``.

Sedna builds a Plato client from these objects. Here a FedAvg-like aggregation (``FedAvgV2``,
or any aggregation whose ``parameters["type"]`` is ``fedavg``) runs without Plato: the V2
estimator is adapted to Sedna's interface (:class:`~.v2_estimator.V2Estimator`) and trained
round by round through :class:`FederatedLearning` against ``AggregationServer``/
``AggregationServerV2`` of this SDK, on ``AGG_IP``/``AGG_PORT``. Weights always travel over
the websocket; an ``S3Transmitter`` only matters to Plato.

Modes only Plato implements (``MistNet`` split learning, a Plato datasource given by
``data.parameters``, a custom Plato trainer or algorithm) are handed to Plato when the
``plato`` package is installed and otherwise raise :class:`PlatoRequiredError`.
"""

from __future__ import annotations

import os
from typing import Any

from sedna.algorithms.aggregation.v2 import FedAvgV2, PlatoRequiredError, plato_mode
from sedna.algorithms.transmitter import S3Transmitter, WSTransmitter
from sedna.core.federated_learning.federated_learning import FederatedLearning, transmitter_from_config
from sedna.core.federated_learning.plato import PlatoClient, plato_available
from sedna.core.federated_learning.v2_estimator import V2Estimator, v2_datasets
from sedna.service._log import LOGGER

__all__ = ["FederatedLearningV2"]


class FederatedLearningV2:
    """A federated-learning trainer configured the Sedna 0.4+ way.

    :param data: an object with ``trainset`` and ``testset`` (Sedna's ``customized`` data;
        ``(x, y)`` pairs, ``BaseDataSource`` or torch datasets), or with Plato's ``parameters``.
    :param estimator: an object with ``model`` and ``hyperparameters`` (``epochs``,
        ``batch_size``, ``optimizer``, ``learning_rate``, ``momentum``, ``weight_decay``).
    :param aggregation: ``FedAvgV2()`` (default) or ``MistNet(cut_layer, epsilon)``.
    :param transmitter: ``WSTransmitter()`` or ``S3Transmitter(...)``; default from
        ``TRANSMITTER`` (:meth:`get_transmitter_from_config`).

    :meth:`train` (or :meth:`run`, which Sedna's examples call) runs the rounds.
    """

    def __init__(self, data: Any = None, estimator: Any = None, aggregation: Any = None,
                 transmitter: Any = None) -> None:
        self.data = data
        self.estimator = estimator
        self.aggregation = aggregation if aggregation is not None else FedAvgV2()
        self.transmitter = transmitter if transmitter is not None else transmitter_from_config()
        self.mode = plato_mode(self.aggregation)
        self.job: FederatedLearning | None = None
        self._plato: PlatoClient | None = None
        if self.mode != "fedavg":
            self._plato = PlatoClient(data, estimator, self.aggregation, self.transmitter)
            return
        try:
            self.trainset, self.testset = v2_datasets(data)
            self.model = V2Estimator(estimator)
        except PlatoRequiredError:
            if not plato_available():
                raise
            self._plato = PlatoClient(data, estimator, self.aggregation, self.transmitter)
            return
        if isinstance(self.transmitter, S3Transmitter) and str(os.environ.get("TRANSMITTER", "")).lower() != "s3":
            LOGGER.info("an S3Transmitter without TRANSMITTER=s3: weights travel over the websocket")

    @classmethod
    def get_transmitter_from_config(cls) -> WSTransmitter | S3Transmitter:
        """``WSTransmitter()`` or ``S3Transmitter(...)`` as ``TRANSMITTER`` says (Sedna's helper)."""
        return transmitter_from_config()

    def train(self) -> Any:
        """Connect to the aggregator and run the rounds until it says the job is done."""
        if self._plato is not None:
            return self._plato.run()
        self.job = FederatedLearning(estimator=self.model, aggregation=type(self.aggregation).__name__)
        self.job.train(train_data=self.trainset, valid_data=self.testset)
        return self.estimator

    run = train  # Sedna's V2 examples call run()
