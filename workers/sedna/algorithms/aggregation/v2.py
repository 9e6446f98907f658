"""Sedna 0.4+'s aggregation objects for ``FederatedLearningV2``/``AggregationServerV2``.

In Sedna these are parameter holders for the Plato framework (``.parameters`` is merged into
Plato's ``algorithm`` config; ``type`` switches Plato's client and server modes). Here:

* :class:`FedAvgV2` is a real FedAvg as well, so the V2 classes run without Plato on this SDK's
  own aggregation protocol (the ``fedavg`` type needs nothing Plato-specific).
* :class:`MistNet` is split learning: the client runs the layers up to ``cut_layer`` and sends
  (noised) features, the server trains the rest. That protocol exists only in Plato, so its
  ``aggregate`` raises :class:`PlatoRequiredError` instead of silently returning nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.aggregation.aggregation import AggClient, FedAvg
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["FedAvgV2", "MistNet", "PlatoRequiredError", "PLATO_HINT", "plato_mode"]

PLATO_HINT = (
    "install Plato (`pip install plato-learn`, import name `plato`) in the worker image, or use "
    "FedAvgV2() / FederatedLearning + AggregationServer, which need no Plato"
)


class PlatoRequiredError(ImportError):
    """A federated-learning mode that only the Plato framework (package ``plato``) implements."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} needs the Plato framework: the Python package `plato` is not installed; {PLATO_HINT}")


def _maybe_int(value: Any) -> Any:
    """A digit string from the environment becomes an int; anything else is kept."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def plato_mode(aggregation: Any) -> str:
    """The Plato ``type`` of a V2 aggregation object (``fedavg`` when it names none)."""
    params = getattr(aggregation, "parameters", None)
    if isinstance(params, dict) and params.get("type"):
        return str(params["type"]).lower()
    return "fedavg"


@ClassFactory.register(ClassType.FL_AGG, alias="FedAvgV2")
class FedAvgV2(FedAvg):
    """Sedna's ``FedAvgV2()``: ``parameters == {"type": "fedavg"}``; aggregates as :class:`FedAvg`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parameters: dict[str, Any] = {"type": "fedavg"}


@ClassFactory.register(ClassType.FL_AGG, alias="MistNet")
class MistNet(FedAvg):
    """Sedna's ``MistNet(cut_layer, epsilon=100)``: ``parameters == {"type": "mistnet",
    "cut_layer", "epsilon"}``; digit strings (env values) become ints.

    Sedna parses a digit-string ``epsilon`` from ``cut_layer`` (a bug); here each is its own.
    """

    def __init__(self, cut_layer: int | str, epsilon: int | float | str = 100, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.parameters = {
            "type": "mistnet",
            "cut_layer": _maybe_int(cut_layer),
            "epsilon": _maybe_int(epsilon),
        }

    def aggregate(self, clients: list[AggClient]) -> list[np.ndarray]:
        raise PlatoRequiredError("MistNet (split learning)")
