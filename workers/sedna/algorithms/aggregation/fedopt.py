"""Adaptive server optimisers (Reddi et al., "Adaptive Federated Optimization", 2021).

Each round, with ``x`` the previous global weights and ``avg`` the round's FedAvg:
``Δ = avg - x``; ``m = beta1·m + (1 - beta1)·Δ``; ``v`` updated per optimiser;
``x = x + eta·m / (sqrt(v) + tau)``.

- FedAdagrad: ``v = v + Δ²``
- FedAdam:    ``v = beta2·v + (1 - beta2)·Δ²``
- FedYogi:    ``v = v - (1 - beta2)·Δ²·sign(v - Δ²)``

``v`` starts at ``tau²`` (the paper's v₋₁ ≥ τ²) and ``m`` at 0. The first round has no ``x``:
it returns ``avg`` and starts the state there. Defaults: ``eta=0.1``, ``beta1=0.9``,
``beta2=0.99``, ``tau=1e-9``. Integer layers take ``avg``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.aggregation.aggregation import AggClient, BaseAggregation
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.utils import to_float

__all__ = ["FedOpt", "FedAdagrad", "FedAdam", "FedYogi"]


class FedOpt(BaseAggregation):
    """Shared state and step of the adaptive optimisers; subclasses define ``_update_v``."""

    def __init__(
        self,
        eta: float | str = 0.1,
        beta1: float | str = 0.9,
        beta2: float | str = 0.99,
        tau: float | str = 1e-9,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.eta = to_float(eta, "eta")
        self.beta1 = to_float(beta1, "beta1")
        self.beta2 = to_float(beta2, "beta2")
        self.tau = to_float(tau, "tau")
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def _update_v(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        raise NotImplementedError

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        layers, samples = self._prepare(clients)
        avg = self._weighted_average(layers, samples)
        if self.weights is None or len(self.weights) != len(avg):
            self.weights = avg
            self.m = [np.zeros_like(a) if a.dtype.kind in "fc" else a for a in avg]
            self.v = [np.full_like(a, self.tau**2) if a.dtype.kind in "fc" else a for a in avg]
            return avg
        assert self.m is not None and self.v is not None
        new: list[np.ndarray] = []
        for i, (x, cur) in enumerate(zip(self.weights, avg, strict=True)):
            if cur.dtype.kind not in "fc":
                new.append(cur)
                continue
            m, v = self.m[i], self.v[i]
            delta = np.subtract(cur, x, out=cur)  # cur is this round's fresh buffer
            m *= self.beta1
            m += (1.0 - self.beta1) * delta
            np.square(delta, out=delta)  # delta now holds Δ²
            self._update_v(v, delta)
            step = np.sqrt(v, out=delta)
            step += self.tau
            np.divide(m, step, out=step)
            step *= self.eta
            step += x
            new.append(step)
        self.weights = new
        return new


@ClassFactory.register(ClassType.FL_AGG, alias="FedAdagrad")
class FedAdagrad(FedOpt):
    """``v = v + Δ²``."""

    def _update_v(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        v += delta_sq


@ClassFactory.register(ClassType.FL_AGG, alias="FedAdam")
class FedAdam(FedOpt):
    """``v = beta2·v + (1 - beta2)·Δ²``."""

    def _update_v(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        v *= self.beta2
        v += (1.0 - self.beta2) * delta_sq


@ClassFactory.register(ClassType.FL_AGG, alias="FedYogi")
class FedYogi(FedOpt):
    """``v = v - (1 - beta2)·Δ²·sign(v - Δ²)`` (v changes additively, not multiplicatively)."""

    def _update_v(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        v -= (1.0 - self.beta2) * delta_sq * np.sign(v - delta_sq)
