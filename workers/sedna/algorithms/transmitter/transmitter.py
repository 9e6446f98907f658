"""Sedna's transmitters: how weights travel between the trainers and the aggregator.

``TRANSMITTER=ws`` (the default): weights travel in the aggregator's websocket frames (JSON,
or binary when negotiated).

``TRANSMITTER=s3`` (the operator sets it with ``spec.transmitter.s3``, ``AGG_DATA_PATH`` the
``aggDataPath`` and the credentials ``S3_ENDPOINT_URL``/``ACCESS_KEY_ID``/``SECRET_ACCESS_KEY``):
weights travel through object storage as numpy ``.npz`` files (read with ``allow_pickle=False``)
and the websocket carries only their URLs, see :class:`S3WeightStore`::

    <AGG_DATA_PATH>/<JOB_NAME>/round-<r>/<client id>.npz   a trainer's update of round r
    <AGG_DATA_PATH>/<JOB_NAME>/round-<r>/global.npz        the aggregate of round r

In Sedna the transmitters are also parameter holders merged into Plato's ``server`` config
(``parameters``); the Plato path keeps that.
"""

from __future__ import annotations

import abc
import io
import os
import posixpath
import shutil
import tempfile
from typing import Any
from urllib.parse import urlparse

import numpy as np

__all__ = ["AbstractTransmitter", "WSTransmitter", "S3Transmitter", "S3WeightStore", "WeightTransferError",
           "s3_store_from_env"]


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
    """Weights staged in S3: ``parameters == {"s3_endpoint_url", "s3_bucket", "access_key",
    "secret_key"}`` with ``s3_bucket`` = ``transmitter_url`` (Plato's reading). The SDK's own FL
    client and server move the weights through :class:`S3WeightStore` when ``TRANSMITTER=s3``;
    ``send``/``recv`` exist for Sedna's interface and do nothing."""

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


class WeightTransferError(RuntimeError):
    """A weights object could not be written, found or read (the reason is the message)."""


def _normalized(url: str) -> tuple[str, str, str]:
    """(scheme, bucket, key) with the key's ``.``/``..``/``//`` resolved."""
    parsed = urlparse(url)
    key = posixpath.normpath("/" + parsed.path.lstrip("/")).lstrip("/")
    return parsed.scheme.lower(), parsed.netloc, "" if key == "." else key


class S3WeightStore:
    """Writes and reads one job's weights under ``base`` (``AGG_DATA_PATH``) through
    :class:`~sedna.common.file_ops.FileOps` (``s3://`` with the worker's S3 credentials; a
    local directory works too, for tests and single-host runs)."""

    def __init__(self, base: str, job: str | None = None) -> None:
        if not base:
            raise ValueError("TRANSMITTER=s3 needs AGG_DATA_PATH (the transmitter's aggDataPath)")
        self.base = base.rstrip("/")
        self.job = (job or "sedna").strip("/") or "sedna"
        self.prefix = f"{self.base}/{self.job}"

    def url(self, round_number: int, name: str) -> str:
        """``<base>/<job>/round-<r>/<name>.npz``."""
        return f"{self.prefix}/round-{int(round_number)}/{name}.npz"

    def within(self, url: str) -> bool:
        """Whether ``url`` names an object under ``base`` (same scheme and bucket; no ``..``
        escapes)."""
        if not isinstance(url, str) or not url or ".." in url.split("/"):
            return False
        scheme, bucket, key = _normalized(url)
        b_scheme, b_bucket, b_key = _normalized(self.base)
        if (scheme, bucket) != (b_scheme, b_bucket) or not key:
            return False
        return not b_key or key.startswith(b_key.rstrip("/") + "/")

    def put(self, weights: list[np.ndarray], round_number: int, name: str) -> str:
        """Upload ``weights`` as ``.npz`` (``arr_0``, ``arr_1``... in order); returns the URL."""
        from sedna.common.file_ops import FileOps

        url = self.url(round_number, name)
        tmp = tempfile.mkdtemp(prefix="sedna-weights-")
        try:
            path = os.path.join(tmp, f"{name}.npz")
            np.savez(path, *[np.asarray(w) for w in weights])
            FileOps.upload(path, url)
        except Exception as err:
            raise WeightTransferError(f"cannot upload weights to {url}: {err}") from err
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return url

    def get(self, url: str) -> list[np.ndarray]:
        """Download and read the ``.npz`` at ``url`` (no pickle); raises
        :class:`WeightTransferError` with the reason when it is missing or unreadable."""
        from sedna.common.file_ops import FileOps

        tmp = tempfile.mkdtemp(prefix="sedna-weights-")
        try:
            try:
                path = FileOps.download(url, os.path.join(tmp, "weights.npz"))
            except Exception as err:
                raise WeightTransferError(f"cannot download {url}: {err}") from err
            if not os.path.isfile(path):
                raise WeightTransferError(f"{url} is not a weights object")
            try:
                with open(path, "rb") as fh:
                    raw = fh.read()
                with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                    names = sorted(npz.files, key=lambda n: int(n.split("_", 1)[1]) if n.startswith("arr_")
                                   and n.split("_", 1)[1].isdigit() else -1)
                    return [np.asarray(npz[n]) for n in names]
            except Exception as err:
                raise WeightTransferError(f"{url} is not a readable .npz: {err}") from err
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def s3_store_from_env(job: str | None = None) -> S3WeightStore | None:
    """The store ``TRANSMITTER=s3`` asks for (``AGG_DATA_PATH``, ``JOB_NAME``), else None."""
    from sedna.common.config import BaseConfig

    if str(BaseConfig.transmitter or "ws").strip().lower() != "s3":
        return None
    return S3WeightStore(str(os.environ.get("AGG_DATA_PATH") or ""), job or os.environ.get("JOB_NAME"))
