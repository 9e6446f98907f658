"""Sedna's transmitters: how weights travel between the trainers and the aggregator.

In Sedna they are parameter holders whose ``parameters`` are merged into Plato's ``server``
config. The Plato-free ``FederatedLearningV2`` always exchanges weights over the aggregator's
websocket (binary frames when negotiated), so an :class:`S3Transmitter` there only records
where Plato would have staged them; the ``send``/``recv`` methods exist, as in Sedna, for
interface compatibility and do nothing.
"""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["AbstractTransmitter", "WSTransmitter", "S3Transmitter"]


class AbstractTransmitter(abc.ABC):
    """Base of the transmitters; ``parameters`` is what the V2 classes read."""

    parameters: dict[str, Any]

    @abc.abstractmethod
    def recv(self) -> Any:
        """Sedna's interface; the transfer itself is done by the FL client and server."""

    @abc.abstractmethod
    def send(self, data: Any) -> Any:
        """Sedna's interface; the transfer itself is done by the FL client and server."""

    @property
    def kind(self) -> str:
        return "ws"


class WSTransmitter(AbstractTransmitter):
    """Weights over the aggregator's websocket: ``parameters == {}``."""

    def __init__(self) -> None:
        self.parameters = {}

    def recv(self) -> Any:
        return None

    def send(self, data: Any) -> Any:
        return None


class S3Transmitter(AbstractTransmitter):
    """Weights staged in S3 (Plato only): ``parameters == {"s3_endpoint_url", "s3_bucket",
    "access_key", "secret_key"}`` with ``s3_bucket`` = ``transmitter_url``."""

    def __init__(self, s3_endpoint_url: str | None, access_key: str | None, secret_key: str | None,
                 transmitter_url: str | None) -> None:
        self.parameters = {
            "s3_endpoint_url": s3_endpoint_url,
            "s3_bucket": transmitter_url,
            "access_key": access_key,
            "secret_key": secret_key,
        }

    @property
    def kind(self) -> str:
        return "s3"

    def recv(self) -> Any:
        return None

    def send(self, data: Any) -> Any:
        return None
