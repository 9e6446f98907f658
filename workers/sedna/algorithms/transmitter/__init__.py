"""Edge-cloud transmitters for ``FederatedLearningV2`` (Sedna 0.4+): websocket and S3."""

from sedna.algorithms.transmitter.transmitter import AbstractTransmitter, S3Transmitter, WSTransmitter

__all__ = ["AbstractTransmitter", "WSTransmitter", "S3Transmitter"]
