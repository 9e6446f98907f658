"""The aggregation interface (Sedna's ``AggClient``/``BaseAggregation``) and FedAvg-family
strategies: FedAvg, FedAvgM (server momentum) and FedProx (server side)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sedna.algorithms.aggregation.kernels import as_layers, out_dtype, weighted_sum_layer
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.utils import to_float

__all__ = ["AggClient", "BaseAggregation", "FedAvg", "FedAvgM", "FedProx"]


@dataclass
class AggClient:
    """One client's update in a round: its sample count and its weights (one array per layer)."""

    num_samples: int = 0
    weights: list[Any] = field(default_factory=list)


class BaseAggregation(metaclass=abc.ABCMeta):
    """A strategy turning the clients' weights of one round into the new global weights.

    After :meth:`aggregate`, ``total_size`` is the round's total sample count and ``weights``
    the global weights it returned (stateful strategies start from them next round).
    """

    def __init__(self, **kwargs: Any) -> None:
        self.total_size: int = 0
        self.weights: list[np.ndarray] | None = None
        self.params: dict[str, Any] = dict(kwargs)

    @abc.abstractmethod
    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        """The new global weights from this round's client updates."""

    # ----------------------------------------------------------------- helpers
    def _prepare(self, clients: Sequence[AggClient]) -> tuple[list[list[np.ndarray]], np.ndarray]:
        """Validate the updates: same layer count and shapes everywhere, sample counts >= 0.

        Returns (layers per client, sample counts as float64) and sets ``total_size``.
        """
        if not clients:
            raise ValueError("aggregate() needs at least one client update")
        layers = [as_layers(c.weights) for c in clients]
        ref = layers[0]
        for idx, client_layers in enumerate(layers[1:], start=1):
            if len(client_layers) != len(ref):
                raise ValueError(f"client {idx} sent {len(client_layers)} layers, client 0 sent {len(ref)}")
            for lidx, (a, b) in enumerate(zip(ref, client_layers, strict=True)):
                if a.shape != b.shape:
                    raise ValueError(f"layer {lidx}: client {idx} has shape {b.shape}, client 0 has {a.shape}")
        samples = np.array([float(c.num_samples) for c in clients], dtype=np.float64)
        if (samples < 0).any() or not np.isfinite(samples).all():
            raise ValueError(f"num_samples must be finite and >= 0, got {samples.tolist()}")
        self.total_size = int(samples.sum())
        return layers, samples

    @staticmethod
    def _weighted_average(layers: list[list[np.ndarray]], samples: np.ndarray) -> list[np.ndarray]:
        total = samples.sum()
        # no samples reported anywhere: every client counts the same rather than dividing by 0
        coeffs = samples / total if total > 0 else np.full(len(samples), 1.0 / len(samples))
        return [
            weighted_sum_layer([client[i] for client in layers], coeffs) for i in range(len(layers[0]))
        ]


@ClassFactory.register(ClassType.FL_AGG, alias="FedAvg")
class FedAvg(BaseAggregation):
    """Sample-weighted average: ``w = Σ_c n_c·w_c / Σ_c n_c`` per layer (McMahan et al.).

    Float layers keep their dtype (accumulated in it, block by block in cache); integer
    layers are averaged in float64 and rounded.
    """

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        layers, samples = self._prepare(clients)
        self.weights = self._weighted_average(layers, samples)
        return self.weights


@ClassFactory.register(ClassType.FL_AGG, alias="FedProx")
class FedProx(FedAvg):
    """FedProx (Li et al.): the server step is FedAvg; the proximal term
    ``mu/2·||w - w_global||²`` is added to each client's local loss (``TorchEstimator(mu=...)``).

    ``mu`` (default 0.01) is kept here so the aggregator can advertise it to clients.
    """

    def __init__(self, mu: float | str = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mu = to_float(mu, "mu")


@ClassFactory.register(ClassType.FL_AGG, alias="FedAvgM")
class FedAvgM(BaseAggregation):
    """FedAvg with server momentum (Hsu et al. 2019).

    With ``avg`` the FedAvg of the round and ``w`` the previous global weights:
    ``v = server_momentum·v + (w - avg)``; ``w = w - server_learning_rate·v``.
    The first round has no previous weights and returns ``avg``. Defaults:
    ``server_learning_rate=1.0``, ``server_momentum=0.9``. Integer layers take ``avg``.
    """

    def __init__(
        self, server_learning_rate: float | str = 1.0, server_momentum: float | str = 0.9, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.server_learning_rate = to_float(server_learning_rate, "server_learning_rate")
        self.server_momentum = to_float(server_momentum, "server_momentum")
        self.momentum: list[np.ndarray] | None = None

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        layers, samples = self._prepare(clients)
        avg = self._weighted_average(layers, samples)
        if self.weights is None or len(self.weights) != len(avg):
            self.weights, self.momentum = avg, None
            return avg
        if self.momentum is None:
            self.momentum = [np.zeros_like(a) for a in avg]
        new: list[np.ndarray] = []
        for prev, cur, mom in zip(self.weights, avg, self.momentum, strict=True):
            if out_dtype([cur]).kind not in "fc":
                new.append(cur)
                continue
            # pseudo-gradient (prev - cur) written into cur's buffer: it is ours, fresh this round
            delta = np.subtract(prev, cur, out=cur)
            mom *= self.server_momentum
            mom += delta
            new.append(prev - self.server_learning_rate * mom)
        self.weights = new
        return new
