"""Wire messages of the data plane (pydantic) and the binary weight codec.

JSON messages keep Sedna's field names so Sedna peers interoperate. The binary encoding is a
negotiated extra: a peer asks for it with ``"encoding": "binary"`` in its ``subscribe`` message
and the aggregator acknowledges with ``subscribe_ack``; weights then travel as raw numpy
buffers in websocket *binary* frames, so no float ever goes through text.

Binary frame layout::

    [4 bytes big-endian header length N][N bytes UTF-8 JSON header][array 0 bytes][array 1 bytes]...

The header is the JSON message with ``data.weights`` removed and an ``arrays`` list of
``{"dtype": "<f4", "shape": [..]}`` describing the buffers that follow, in order.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "WorkerReport",
    "SubscribeMessage",
    "UpdateWeightData",
    "UpdateWeightMessage",
    "RecvWeightData",
    "RecvWeightMessage",
    "PredictRequest",
    "PredictResponse",
    "encode_binary",
    "decode_binary",
    "weights_to_json",
    "weights_from_json",
]

ENCODING_JSON = "json"
ENCODING_BINARY = "binary"


class WorkerReport(BaseModel):
    """Body of ``POST /sedna/workers/{name}/info`` (reference/sedna.md §3.1)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    namespace: str
    ownerName: str
    ownerKind: str
    kind: Literal["train", "eval", "deploy", "inference"]
    status: Literal["ready", "completed", "failed", "running"]
    results: list[dict[str, Any]] | None = None
    ownerInfo: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body, leaving out ``results``/``ownerInfo`` when empty (as Sedna does)."""
        return self.model_dump(exclude_none=True)


class SubscribeMessage(BaseModel):
    """First message of an FL client; ``encoding`` is our negotiated extension."""

    type: Literal["subscribe"] = "subscribe"
    client_id: str
    encoding: Literal["json", "binary"] | None = None


class UpdateWeightData(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    num_samples: int
    weights: list[Any]


class UpdateWeightMessage(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    type: Literal["update_weight"] = "update_weight"
    client: str
    data: UpdateWeightData
    job_name: str | None = None


class RecvWeightData(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    total_sample: int
    round_number: int
    weights: list[Any]
    exit_flag: Literal["ok", "continue"]


class RecvWeightMessage(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    type: Literal["recv_weight"] = "recv_weight"
    round_number: int
    data: RecvWeightData


class PredictRequest(BaseModel):
    """Body of ``POST /<service>/predict``; unknown keys (Sedna's ``callback`` ...) are kept."""

    model_config = ConfigDict(extra="allow")

    data: Any = Field(default=None)


class PredictResponse(BaseModel):
    result: Any


def weights_to_json(weights: list[Any]) -> list[Any]:
    """Sedna's JSON form: every layer as nested lists."""
    return [np.asarray(w).tolist() for w in weights]


def weights_from_json(weights: list[Any]) -> list[np.ndarray]:
    return [np.asarray(w) for w in weights]


def encode_binary(message: dict[str, Any], weights: list[Any]) -> bytes:
    """Pack ``message`` (without weights) and ``weights`` into one binary frame."""
    arrays = [np.ascontiguousarray(np.asarray(w)) for w in weights]
    header = dict(message)
    header["arrays"] = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
    raw_header = json.dumps(header).encode("utf-8")
    parts = [struct.pack(">I", len(raw_header)), raw_header]
    parts.extend(a.tobytes() for a in arrays)
    return b"".join(parts)


def decode_binary(frame: bytes) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Inverse of :func:`encode_binary`: ``(header message, weights)``."""
    view = memoryview(frame)
    (length,) = struct.unpack(">I", view[:4])
    header = json.loads(bytes(view[4 : 4 + length]).decode("utf-8"))
    offset = 4 + length
    weights: list[np.ndarray] = []
    for spec in header.pop("arrays", []):
        dtype = np.dtype(spec["dtype"])
        shape = tuple(spec["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        nbytes = count * dtype.itemsize
        if offset + nbytes > len(frame):
            raise ValueError("binary weight frame is truncated")
        # copy so the array owns its memory and is writable
        weights.append(np.frombuffer(view[offset : offset + nbytes], dtype=dtype).reshape(shape).copy())
        offset += nbytes
    if offset != len(frame):
        raise ValueError("binary weight frame has trailing bytes")
    return header, weights
