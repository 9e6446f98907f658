"""Federated aggregation strategies (registered under ``ClassType.FL_AGG``).

Usage, as the aggregation server does it::

    agg = ClassFactory.get_cls(ClassType.FL_AGG, "FedAvg")()
    new_weights = agg.aggregate([AggClient(num_samples=n, weights=w), ...])

or, with parameters from a name, a ``{"method", "param"}`` dict or ``AGG_NAME``/``AGG_PARAMETERS``
(:mod:`.params`)::

    name, agg = build_aggregation({"method": "MultiKrum", "param": {"num_malicious": 1}})

``FedAvgV2`` and ``MistNet`` are Sedna 0.4+'s ``FederatedLearningV2`` objects (:mod:`.v2`).
"""

from sedna.algorithms.aggregation.aggregation import (
    AggClient,
    BaseAggregation,
    FedAvg,
    FedAvgM,
    FedProx,
)
from sedna.algorithms.aggregation.fedopt import FedAdagrad, FedAdam, FedOpt, FedYogi
from sedna.algorithms.aggregation.params import build_aggregation, cast_params, resolve_aggregation
from sedna.algorithms.aggregation.robust import FedMedian, FedTrimmedAvg, Krum, MultiKrum
from sedna.algorithms.aggregation.v2 import FedAvgV2, MistNet, PlatoRequiredError

__all__ = [
    "AggClient",
    "BaseAggregation",
    "FedAvg",
    "FedAvgM",
    "FedProx",
    "FedOpt",
    "FedAdam",
    "FedYogi",
    "FedAdagrad",
    "FedMedian",
    "FedTrimmedAvg",
    "Krum",
    "MultiKrum",
    "FedAvgV2",
    "MistNet",
    "PlatoRequiredError",
    "build_aggregation",
    "resolve_aggregation",
    "cast_params",
]
