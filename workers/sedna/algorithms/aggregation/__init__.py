"""Federated aggregation strategies (registered under ``ClassType.FL_AGG``).

Usage, as the aggregation server does it::

    agg = ClassFactory.get_cls(ClassType.FL_AGG, "FedAvg")()
    new_weights = agg.aggregate([AggClient(num_samples=n, weights=w), ...])
"""

from sedna.algorithms.aggregation.aggregation import (
    AggClient,
    BaseAggregation,
    FedAvg,
    FedAvgM,
    FedProx,
)
from sedna.algorithms.aggregation.fedopt import FedAdagrad, FedAdam, FedOpt, FedYogi
from sedna.algorithms.aggregation.robust import FedMedian, FedTrimmedAvg, Krum, MultiKrum

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
]
