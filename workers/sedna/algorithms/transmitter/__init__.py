"""Edge-cloud transmitters for federated learning (Sedna 0.4+): websocket and S3."""

from sedna.algorithms.transmitter.transmitter import (
    AbstractTransmitter,
    S3Transmitter,
    S3WeightStore,
    WeightTransferError,
    WSTransmitter,
    s3_store_from_env,
)

__all__ = ["AbstractTransmitter", "WSTransmitter", "S3Transmitter", "S3WeightStore", "WeightTransferError",
           "s3_store_from_env"]
