"""Byzantine-robust strategies: coordinate-wise median, trimmed mean, Krum and Multi-Krum.

These ignore sample counts when combining values (a malicious client could lie about its
count), except Multi-Krum which FedAvgs the clients it keeps, as in Flower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.aggregation.aggregation import AggClient, BaseAggregation
from sedna.algorithms.aggregation.kernels import (
    out_dtype,
    pairwise_sq_distances,
    stacked_reduce_layer,
)
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.utils import to_float, to_int

__all__ = ["FedMedian", "FedTrimmedAvg", "Krum", "MultiKrum"]


@ClassFactory.register(ClassType.FL_AGG, alias="FedMedian")
class FedMedian(BaseAggregation):
    """Coordinate-wise median of the clients' weights (mean of the two middle values for an
    even number of clients)."""

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        layers, _ = self._prepare(clients)

        def median(stack: np.ndarray, out: np.ndarray) -> None:
            np.median(stack, axis=0, out=out, overwrite_input=True)

        self.weights = [
            stacked_reduce_layer([c[i] for c in layers], median) for i in range(len(layers[0]))
        ]
        return self.weights


@ClassFactory.register(ClassType.FL_AGG, alias="FedTrimmedAvg")
class FedTrimmedAvg(BaseAggregation):
    """Coordinate-wise trimmed mean: drop the ``k = floor(beta·n)`` largest and ``k`` smallest
    values of each coordinate over the n clients and average the rest (default
    ``beta=0.2``). Raises when nothing would be left (``2k >= n``)."""

    def __init__(self, beta: float | str = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beta = to_float(beta, "beta")
        if not 0.0 <= self.beta < 0.5:
            raise ValueError(f"beta must be in [0, 0.5), got {self.beta}")

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        layers, _ = self._prepare(clients)
        n = len(layers)
        k = int(np.floor(self.beta * n))
        if n - 2 * k <= 0:
            raise ValueError(f"trimming {k} from each end of {n} clients leaves none")

        def trimmed(stack: np.ndarray, out: np.ndarray) -> None:
            stack.sort(axis=0)
            np.mean(stack[k : n - k], axis=0, out=out)

        self.weights = [
            stacked_reduce_layer([c[i] for c in layers], trimmed) for i in range(len(layers[0]))
        ]
        return self.weights


def krum_scores(dist: np.ndarray, num_malicious: int) -> np.ndarray:
    """Krum score of each client: the sum of squared distances to its
    ``max(1, n - num_malicious - 2)`` nearest other clients."""
    n = dist.shape[0]
    if n == 1:
        return np.zeros(1)
    m = min(n - 1, max(1, n - num_malicious - 2))
    others = dist + np.diag(np.full(n, np.inf))  # a client is not its own neighbour
    nearest = np.partition(others, m - 1, axis=1)[:, :m]
    return nearest.sum(axis=1)


@ClassFactory.register(ClassType.FL_AGG, alias="Krum")
class Krum(BaseAggregation):
    """Krum (Blanchard et al. 2017): the new weights are those of the client with the lowest
    Krum score (ties: the first). ``num_malicious`` (f, default 0) sets the neighbourhood
    ``n - f - 2`` (at least 1). ``selected`` holds the chosen client indices;
    ``total_size`` stays the round's total sample count."""

    def __init__(self, num_malicious: int | str = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_malicious = to_int(num_malicious, "num_malicious")
        if self.num_malicious < 0:
            raise ValueError("num_malicious must be >= 0")
        self.selected: list[int] = []
        self.scores: np.ndarray | None = None

    def _select(self, layers: list[list[np.ndarray]], keep: int) -> list[int]:
        self.scores = krum_scores(pairwise_sq_distances(layers), self.num_malicious)
        order = np.argsort(self.scores, kind="stable")
        self.selected = [int(i) for i in order[:keep]]
        return self.selected

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        layers, _ = self._prepare(clients)
        best = self._select(layers, 1)[0]
        self.weights = [np.array(layer, dtype=out_dtype([layer]), copy=True) for layer in layers[best]]
        return self.weights


@ClassFactory.register(ClassType.FL_AGG, alias="MultiKrum")
class MultiKrum(Krum):
    """Multi-Krum: keep the ``num_to_keep`` clients with the lowest Krum scores and FedAvg
    them (sample-weighted). ``num_to_keep=0`` (default) keeps ``n - num_malicious``."""

    def __init__(self, num_malicious: int | str = 0, num_to_keep: int | str = 0, **kwargs: Any) -> None:
        super().__init__(num_malicious=num_malicious, **kwargs)
        self.num_to_keep = to_int(num_to_keep, "num_to_keep")
        if self.num_to_keep < 0:
            raise ValueError("num_to_keep must be >= 0")

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        layers, samples = self._prepare(clients)
        n = len(layers)
        keep = self.num_to_keep or max(1, n - self.num_malicious)
        chosen = self._select(layers, min(keep, n))
        self.weights = self._weighted_average([layers[i] for i in chosen], samples[chosen])
        return self.weights
