"""Clients of the data plane: the local controller, the big-model service, the aggregator and
the knowledge base.

* :class:`LCClient` (:mod:`sedna.service.lc_client`) never loses a report; Sedna's ``LCReporter``
  (:mod:`sedna.service.lc_reporter`) is importable from here too, as in Sedna.
* :class:`AggregationClient` speaks Sedna's websocket protocol and, when asked, the binary
  weight encoding of :mod:`sedna.service.wire`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sedna.service._log import LOGGER
from sedna.service.lc_client import LCClient
from sedna.service.lc_reporter import LCReporter
from sedna.service.wire import (
    ENCODING_BINARY,
    ENCODING_JSON,
    decode_binary,
    encode_binary,
    weights_from_json,
    weights_to_json,
)

__all__ = [
    "LCClient", "LCReporter", "ModelClient", "AggregationClient", "AggregationAuthError", "KBClient", "http_request",
]

#: a trainer's aggregation credentials, injected by the runtimes (see AggregationClient)
AGG_CLIENT_ID_ENV = "SEDNA_AGG_CLIENT_ID"
AGG_TOKEN_ENV = "SEDNA_AGG_TOKEN"

def http_request(url: str, method: str = "POST", timeout: float = 10.0, attempts: int = 3, **kwargs: Any) -> Any:
    """One HTTP call with retries (exponential backoff); returns the decoded JSON (or text)."""
    for attempt in Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.2, max=2.0),
        retry=retry_if_exception_type(httpx.TransportError),
        reraise=True,
    ):
        with attempt:
            resp = httpx.request(method, url, timeout=timeout, **kwargs)
            resp.raise_for_status()
            try:
                return resp.json()
            except ValueError:
                return resp.text
    return None  # pragma: no cover - tenacity reraises


class ModelClient:
    """Client of the big-model service: ``POST {protocol}://host:port/<service>/predict``."""

    def __init__(
        self,
        service_name: str,
        version: str = "latest",
        host: str = "127.0.0.1",
        port: int | str = "8080",
        protocol: str = "http",
        timeout: float = 30.0,
    ) -> None:
        self.server_name = f"{service_name}{version}"
        self.endpoint = f"{protocol}://{host}:{port}/{service_name}"
        self.timeout = timeout
        # A cloud that cannot be reached should fail fast; a slow answer may take `timeout`.
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def check_server_status(self) -> Any:
        """The service's ``GET /<service>`` answer, or ``None`` while it cannot be reached or
        answers an error (as Sedna: scripts loop ``while not check_server_status()``). One
        attempt, no retries: the caller's loop decides how long to wait."""
        try:
            resp = self._client.get(self.endpoint)
            resp.raise_for_status()
            return resp.json()
        except (httpx.HTTPError, ValueError):
            return None

    def inference(self, x: Any, **kwargs: Any) -> dict[str, Any]:
        """Send ``{"data": x, **json-able kwargs}``; returns the response ``{"result": ...}``."""
        body: dict[str, Any] = {k: v for k, v in kwargs.items() if isinstance(v, str | int | float | bool)}
        body["data"] = x.tolist() if isinstance(x, np.ndarray) else x
        resp = self._client.post(f"{self.endpoint}/predict", json=body)
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        self._client.close()


class AggregationAuthError(RuntimeError):
    """The aggregator refused this client's subscription (a missing or wrong token).

    Not a ``ConnectionError``: reconnecting with the same credentials cannot help, so the
    trainer's reconnect loop lets it through."""


class AggregationClient:
    """Websocket client of the aggregation server (synchronous, one per FL worker).

    Credentials: ``token`` (else ``SEDNA_AGG_TOKEN``, which the runtimes inject into every
    trainer together with ``SEDNA_AGG_CLIENT_ID``) is sent in ``subscribe``. A token from the
    environment is bound to ``SEDNA_AGG_CLIENT_ID``, which then replaces ``client_id`` (a Sedna
    script passes its pod name, which a restarted trainer does not keep). With a token the client
    waits for the server's ``subscribe_ack`` before it sends anything else (frames are bounded
    until then), and raises :class:`AggregationAuthError` when the subscription is refused.

    ``encoding="binary"`` asks the server for binary weight frames; a server that does not
    acknowledge (Sedna's) keeps the JSON encoding.

    ``weight_store`` (an :class:`~sedna.algorithms.transmitter.S3WeightStore`; the
    ``FederatedLearning`` trainer passes one when ``TRANSMITTER=s3``): ``send`` uploads the
    weights to ``<store>/round-<last_round + 1>/<client id>.npz`` and sends only
    ``weights_url``; ``recv`` downloads the ``weights_url`` of a ``recv_weight`` message into
    ``data["weights"]``.

    Sedna's signature ``AggregationClient(url, client_id, ping_timeout=5, ping_interval=5,
    max_size=...)`` is accepted: ``ping_timeout`` is how long connecting is retried (Sedna 0.4+
    retries 15 times, 3 s apart), and ``ping_interval`` is kept for compatibility only, since
    keepalive pings are off (a trainer busy in a long local round must not be dropped).
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        ping_timeout: float = 300,
        max_size: int | None = None,
        encoding: str = ENCODING_JSON,
        connect_timeout: float | None = None,
        ack_timeout: float = 2.0,
        ping_interval: float | None = None,
        token: str | None = None,
        weight_store: Any = None,
    ) -> None:
        self.uri = url
        self.weight_store = weight_store
        self.ping_interval = ping_interval
        if token is None and os.environ.get(AGG_TOKEN_ENV):
            token = os.environ[AGG_TOKEN_ENV]
            bound = os.environ.get(AGG_CLIENT_ID_ENV)
            if bound and bound != client_id:
                LOGGER.info("aggregation client %r subscribes as %r, the id its token is bound to", client_id, bound)
                client_id = bound
        self.token = token
        self.client_id = client_id
        self.max_size = max_size  # None: no frame limit (Sedna caps at 16 MiB)
        self.requested_encoding = encoding
        self.encoding = ENCODING_JSON
        self.connect_timeout = ping_timeout if connect_timeout is None else connect_timeout
        self.ack_timeout = ack_timeout
        self.ws: Any = None
        # The last round this client received weights for: sent in `subscribe`, so that an
        # aggregator that restarted (and forgot) numbers its rounds on from there.
        self.last_round = 0
        self.connect()

    def connect(self) -> None:
        """Connect and subscribe, retrying with backoff until ``connect_timeout`` elapses."""
        from websockets.sync.client import connect

        deadline = time.monotonic() + self.connect_timeout
        delay = 0.1
        while True:
            try:
                ws = connect(self.uri, max_size=self.max_size, open_timeout=10, ping_interval=None)
                # we own the connection for the client's lifetime (close() ends it); entering it
                # marks that for websockets >= 17 without the `legacy` flag older versions lack
                self.ws = ws.__enter__()
                break
            except (OSError, TimeoutError, Exception) as err:  # noqa: B014 - websockets raises many kinds
                if time.monotonic() + delay > deadline:
                    raise ConnectionError(f"cannot connect to aggregator {self.uri}: {err}") from err
                LOGGER.info("aggregator %s not ready (%s); retrying in %.1fs", self.uri, err, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        sub: dict[str, Any] = {"type": "subscribe", "client_id": self.client_id}
        if self.last_round:
            sub["round"] = self.last_round  # an extra field: Sedna's server ignores it
        if self.requested_encoding == ENCODING_BINARY:
            sub["encoding"] = ENCODING_BINARY
        if self.token:
            sub["token"] = self.token  # an extra field too
        self.ws.send(json.dumps(sub))
        self.encoding = ENCODING_JSON
        if self.requested_encoding == ENCODING_BINARY or self.token:
            self._await_ack()

    def _await_ack(self) -> None:
        """Wait (``ack_timeout``; at least 10 s with a token) for ``subscribe_ack``; a server
        that sends none (Sedna's) keeps the JSON encoding. A refusal raises
        :class:`AggregationAuthError`."""
        from websockets.exceptions import ConnectionClosed

        # our aggregator always acknowledges a token, and frames stay bounded until it has: be
        # patient with a busy server rather than send an update it would close the connection on
        wait = max(self.ack_timeout, 10.0) if self.token else self.ack_timeout
        deadline = time.monotonic() + wait
        while True:
            try:
                raw = self.ws.recv(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return  # an old server: stay with JSON
            except ConnectionClosed as err:
                if err.rcvd is not None and err.rcvd.code == 1008:
                    raise AggregationAuthError(f"the aggregator refused client {self.client_id!r}: {err.rcvd.reason}") from err
                raise
            msg = json.loads(raw) if isinstance(raw, str) else decode_binary(raw)[0]
            if msg.get("type") == "subscribe_rejected":
                reason = (msg.get("data") or {}).get("reason")
                raise AggregationAuthError(f"the aggregator refused client {self.client_id!r}: {reason}")
            if msg.get("type") == "subscribe_ack":
                self.encoding = msg.get("encoding", ENCODING_JSON)
                return

    def send(self, data: dict[str, Any], msg_type: str = "message", job_name: str | None = "") -> None:
        """Send ``{"type", "client", "data", "job_name"}``; weights are packed per the encoding."""
        message: dict[str, Any] = {"type": msg_type, "client": self.client_id, "job_name": job_name}
        payload = dict(data)
        weights = payload.pop("weights", None)
        if weights is not None and self.weight_store is not None:
            # through object storage: the frame carries the object's URL only
            payload["weights_url"] = self.weight_store.put(
                [np.asarray(w) for w in weights], self.last_round + 1, self.client_id
            )
            weights = None
        if weights is not None and self.encoding == ENCODING_BINARY:
            message["data"] = payload
            self.ws.send(encode_binary(message, list(weights)))
            return
        if weights is not None:
            payload["weights"] = weights_to_json(list(weights))
        message["data"] = payload
        self.ws.send(json.dumps(message))

    def recv(self, wait_data_type: str | None = None, timeout: float | None = None) -> dict[str, Any] | None:
        """Next message (of ``wait_data_type`` when given); weights are numpy arrays.

        Returns None when ``timeout`` passes without one.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                raw = self.ws.recv(timeout=left)
            except TimeoutError:
                return None
            if isinstance(raw, bytes | bytearray):
                msg, weights = decode_binary(bytes(raw))
                msg.setdefault("data", {})["weights"] = weights
            else:
                msg = json.loads(raw)
                data = msg.get("data")
                if isinstance(data, dict) and isinstance(data.get("weights"), list):
                    data["weights"] = weights_from_json(data["weights"])
                elif isinstance(data, dict) and isinstance(data.get("weights_url"), str) and data.get("weights") is None:
                    data["weights"] = self._fetch(data["weights_url"])
            if msg.get("type") == "update_rejected":
                # the aggregator refused our update (NaN weights, wrong shapes...); the round
                # goes on without it, and the next aggregated model still arrives
                LOGGER.warning("the aggregator refused this client's update: %s", (msg.get("data") or {}).get("reason"))
            if wait_data_type is None or msg.get("type") == wait_data_type:
                return msg

    def _fetch(self, url: str) -> list[np.ndarray]:
        """The weights at ``url`` (the aggregate of a round sent through object storage)."""
        from sedna.algorithms.transmitter import S3WeightStore

        store = self.weight_store or S3WeightStore(url.rsplit("/", 1)[0])
        return list(store.get(url))

    def reconnect(self) -> None:
        """Drop the connection and connect + subscribe again (the aggregator restarted)."""
        with contextlib.suppress(Exception):
            self.close()
        self.connect()

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


class KBClient:
    """Client of the knowledge-base REST API under ``<KB_SERVER>/knowledgebase``."""

    def __init__(self, kbserver: str, timeout: float = 60.0, token: str | None = None) -> None:
        """``token``: bearer token of the market's writes (default ``MARKET_API_TOKEN``; the
        market refuses unauthenticated uploads unless it runs ``--insecure``)."""
        self.kbserver = f"{kbserver.rstrip('/')}/knowledgebase"
        self.timeout = timeout
        token = token if token is not None else os.environ.get("MARKET_API_TOKEN", "")
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}

    def _url(self, path: str) -> str:
        return f"{self.kbserver}{path}"

    def upload_file(self, files: str, name: str | None = None) -> str:
        """Upload a local file; returns its download URL (or the local path when it failed)."""
        if not (files and os.path.isfile(files)):
            return files
        name = name or os.path.basename(files)
        with open(files, "rb") as fh:
            res = http_request(self._url("/file/upload"), files={"file": (name, fh)}, timeout=self.timeout,
                               headers=self._auth)
        return self.kbserver + res if isinstance(res, str) and res.startswith("/") else files

    def update_db(self, task_info_file: str) -> str | None:
        """``POST /update`` with the pickled task index; returns the index download URL."""
        name = os.path.basename(task_info_file)
        with open(task_info_file, "rb") as fh:
            res = http_request(self._url("/update"), files={"task": (name, fh)}, timeout=self.timeout,
                               headers=self._auth)
        return self.kbserver + res if isinstance(res, str) else None

    def update_task_status(self, tasks: str, new_status: int = 1) -> str | None:
        """``POST /update/status`` ``{tasks: "a,b", status}``; returns the index download URL."""
        res = http_request(
            self._url("/update/status"), json={"tasks": tasks, "status": int(new_status)}, timeout=self.timeout,
            headers=self._auth,
        )
        return self.kbserver + res if isinstance(res, str) else None

    def download_file(self, url: str, dst: str) -> str:
        """GET a ``/file/download`` URL (absolute, or relative to the KB) into ``dst``."""
        if url.startswith("/"):
            url = self.kbserver + url
        resp = httpx.get(url, timeout=self.timeout)
        resp.raise_for_status()
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        Path(dst).write_bytes(resp.content)
        return dst
