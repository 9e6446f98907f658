"""Sedna's client choosers: parameter holders read by ``AggregationServerV2``.

``SimpleClientChoose(per_round)`` says how many clients take part in a round. With Plato it is
Plato's ``clients.per_round``; the Plato-free ``AggregationServerV2`` closes a round once
``per_round`` clients have sent weights and the round timeout passed, or once every trainer
(``PARTICIPANTS_COUNT``) has sent (see :class:`sedna.service.server.AggregationServerV2`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["AbstractClientChoose", "SimpleClientChoose"]


class AbstractClientChoose:
    """Base of the client choosers (Sedna's name); ``parameters`` is what the server reads."""

    def __init__(self) -> None:
        self.parameters: dict[str, Any] = {}


class SimpleClientChoose(AbstractClientChoose):
    """``parameters == {"per_round": per_round}`` (a digit string from the environment is cast)."""

    def __init__(self, per_round: int | str = 1) -> None:
        super().__init__()
        count = int(per_round)
        if count < 1:
            raise ValueError(f"per_round must be >= 1, got {per_round!r}")
        self.parameters = {"per_round": count}

    @property
    def per_round(self) -> int:
        return int(self.parameters["per_round"])
