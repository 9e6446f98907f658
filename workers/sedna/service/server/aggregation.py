"""The federated-learning aggregation server (websocket ``/<aggregation>``).

Protocol (Sedna's): a client sends ``{"type": "subscribe", "client_id"}`` (ours adds ``"round"``,
the last round it received, when it reconnects: a restarted server numbers its rounds on from
the highest one), then each round
``{"type": "update_weight", "client", "data": {"num_samples", "weights"}, "job_name"}``; when a
round closes every connected client gets ``{"type": "recv_weight", "round_number", "data":
{"total_sample", "round_number", "weights", "exit_flag": "ok"|"continue"}}`` and the server stops
after ``exit_round`` rounds.

**Authentication.** With an aggregation key (``SEDNA_AGG_KEY``, injected by both runtimes into
the aggregation worker of a FederatedLearningJob), a client must subscribe with ``"token"``
(or ``Authorization: Bearer <token>`` on the websocket handshake) equal to
``hex(HMAC-SHA256(key, client_id))``; the runtimes give each trainer ``SEDNA_AGG_CLIENT_ID``
(its stable slot, ``train-<i>``) and ``SEDNA_AGG_TOKEN``, which the SDK sends by itself. The
token is compared in constant time. A valid subscription binds the id to that connection,
which may then send updates for that id only; a later valid subscription with the same id
(the trainer reconnecting, or its restarted pod) takes the id over, its old connection is no
longer heard. A subscription without a valid token, a second id on one connection, or any
message before the subscription is answered ``{"type": "subscribe_rejected", "data":
{"reason"}}`` and the connection is closed (1008). Without a key (a Sedna-style script run by
hand) nothing is authenticated, as in Sedna, and a warning says so once.

**Frame bound.** Until a connection is authenticated its frames may hold at most
``AGG_SUBSCRIBE_MAX_SIZE`` bytes (64 KiB; a subscription is ~200 bytes); a larger one closes the
connection (1009) before its payload is read. From the acknowledgement on (``{"type":
"subscribe_ack"}``, sent to every subscription that carries a token or an ``encoding``) frames up
to ``ws_size`` bytes (default 1 GiB) are accepted, so a client sends its first update only after
the acknowledgement, as the SDK does. Without a key, connections get ``ws_size`` from the start.

A round closes when (first that holds):

1. ``participants_count`` clients have sent accepted updates (Sedna's only rule);
2. ``round_timeout`` seconds passed since the round's first update and at least
   ``min_participants`` clients have sent (a dead or hung client cannot stall the job);
3. at least ``min_participants`` have sent, every connected client has sent an accepted update
   this round, and the accepted updates plus the *dead* clients reach ``participants_count``.
   A client is dead when it subscribed (or sent), is disconnected now, and has no accepted
   update in the round; a client whose update was refused has none, so a refused-then-dead
   client is dead, never a participant. A dead client only stands in for its own missing
   update: it lets a round close one update short, not before trainers that have not connected
   yet have sent. (A connected client whose update was refused is waited for, until rule 2:
   it may still send a good one. Without a key a socket can subscribe under many ids and
   leave; with one, only the job's trainers can be dead.)

**Failures.** The strategy runs before the round's buffer is touched. When it raises, or returns
weights that are not finite or not of the updates' shapes, the error is logged and kept
(``AggregationServer.errors``) and the round still closes, with the last aggregated model (or,
in the first round, the coordinate-wise median of the round's accepted updates), so a failing
strategy never stalls the job; ``RoundRecord.reason`` says so.

**Transmitters.** With ``TRANSMITTER=s3`` (or a ``weight_store``) weights go through object
storage (:mod:`sedna.algorithms.transmitter`): an update may be ``{"num_samples",
"weights_url"}`` where the URL is ``<AGG_DATA_PATH>/<job>/round-<r>/<client id>.npz``; it is
downloaded and checked as a websocket update is (``update_problem``, and the id is the
connection's). A URL outside ``AGG_DATA_PATH``, not named after the sending client, missing or
unreadable is refused (``update_rejected`` with the reason). Each aggregate is uploaded once to
``<AGG_DATA_PATH>/<job>/round-<r>/global.npz`` and ``recv_weight`` carries ``weights_url``
instead of weights (a JSON frame whatever the encoding). Without a store an update carrying
``weights_url`` is refused and frames are as above.

Extras negotiated per client: ``"encoding": "binary"`` in ``subscribe`` (acknowledged with
``subscribe_ack``) makes the server send that client binary weight frames
(:mod:`sedna.service.wire`).

The strategy and its parameters (:mod:`sedna.algorithms.aggregation.params`): ``aggregation``
is a registered name, a ``{"method", "param"}`` dict, a class or an instance; ``AGG_NAME`` /
``AGG_PARAMETERS`` in the job's environment add parameters when they name the same strategy
(and choose it when the script gives none). Clients may connect on any single-segment path:
in Sedna 0.4+ the trainer's ``aggregation`` only names the route, so trainers written for
``/FedAvg`` keep working when the aggregator runs, say, ``MultiKrum``.

Sedna 0.3's ``AggregationServer(servername, host, http_port=7363, exit_round, ws_size)`` is
accepted: ``servername`` is the aggregation, and ``participants_count`` (which 0.3 lacks)
defaults to ``PARTICIPANTS_COUNT``, which the controller sets to the number of trainers.
``AggregationServerV2`` (Sedna 0.4+, Plato) runs FedAvg-like jobs on this server.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect

from sedna.algorithms.aggregation.params import build_aggregation
from sedna.algorithms.aggregation.v2 import FedAvgV2, plato_mode
from sedna.algorithms.transmitter import S3WeightStore, WeightTransferError, s3_store_from_env
from sedna.common.config import Context
from sedna.service._log import LOGGER
from sedna.service.client import LCClient
from sedna.service.server.base import BaseServer
from sedna.service.wire import ENCODING_BINARY, ENCODING_JSON, decode_binary, encode_binary, weights_from_json

__all__ = ["AggregationServer", "AggregationServerV2", "RoundRecord", "client_token"]

DEFAULT_WS_SIZE = 1 << 30
#: frames a connection may send before it is authenticated (env ``AGG_SUBSCRIBE_MAX_SIZE``)
DEFAULT_SUBSCRIBE_MAX_SIZE = 1 << 16
#: the aggregation key (the runtimes inject it; lc/auth.py ``aggregation_env`` derives it)
AGG_KEY_ENV = "SEDNA_AGG_KEY"
CLOSE_POLICY_VIOLATION = 1008
# uvicorn's websocket implementation whose per-connection frame limit we can change (below)
_WS_IMPL = "websockets-sansio"
#: the largest ``num_samples`` one update may claim (env ``AGG_MAX_NUM_SAMPLES``): a client
#: claiming 10^12 samples would otherwise own the weighted mean
DEFAULT_MAX_NUM_SAMPLES = 10**9


def update_problem(
    num_samples: Any, weights: list[np.ndarray], reference: list[np.ndarray] | None, max_samples: int
) -> str | None:
    """Why an update cannot be aggregated, or None: ``num_samples`` an integer in
    [0, max_samples]; every weight finite; the shapes those of ``reference`` (the round's
    first update, else the last aggregated model) when there is one."""
    try:
        n = int(num_samples)
    except (TypeError, ValueError, OverflowError):
        return f"num_samples {num_samples!r} is not an integer"
    if n != num_samples and not (isinstance(num_samples, str) and num_samples.strip().isdigit()):
        return f"num_samples {num_samples!r} is not an integer"
    if not 0 <= n <= max_samples:
        return f"num_samples {n} is outside [0, {max_samples}]"
    if not weights:
        return "the update has no weights"
    for i, w in enumerate(weights):
        if not np.issubdtype(np.asarray(w).dtype, np.number):
            return f"weights[{i}] is not numeric"
        if not np.all(np.isfinite(w)):
            return f"weights[{i}] holds NaN or infinite values"
    if reference is not None:
        shapes = [tuple(np.shape(w)) for w in weights]
        expected = [tuple(np.shape(w)) for w in reference]
        if shapes != expected:
            return f"weight shapes {shapes} differ from the model's {expected}"
    return None
SEDNA_DEFAULT_PORT = 7363


def client_token(key: str, client_id: str) -> str:
    """The token of ``client_id`` under aggregation key ``key``: ``hex(HMAC-SHA256(key, id))``
    (what ``sedna_operator.lc.auth.aggregation_token`` gives the trainers)."""
    return hmac.new(key.encode(), client_id.encode(), hashlib.sha256).hexdigest()


def _token_valid(key: str, client_id: str, token: Any) -> bool:
    if not isinstance(token, str) or not token:
        return False
    return hmac.compare_digest(client_token(key, client_id).encode(), token.encode())


def _bearer(ws: WebSocket) -> str | None:
    """The token of the handshake's ``Authorization: Bearer <token>`` header, if any."""
    scheme, _, value = (ws.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _set_frame_limit(ws: WebSocket, size: int) -> bool:
    """Set the largest frame this one connection may send from now on.

    uvicorn's limit (``ws_max_size``) is per server, and the whole frame is read before the
    app sees it, so a check in the app comes too late for a 1 GiB frame. uvicorn's
    ``websockets-sansio`` protocol (which :meth:`AggregationServer._config` selects) parses
    every frame with its ``websockets`` connection's ``max_message_size`` taken when the
    frame's first bytes arrive, and refuses a larger frame from its header (close 1009). The
    protocol object is the ASGI ``receive`` callable's owner. False when the stack differs.
    """
    protocol = getattr(getattr(ws, "_receive", None), "__self__", None)
    conn = getattr(protocol, "conn", None)
    if conn is None or not hasattr(conn, "max_message_size"):
        return False
    conn.max_message_size = int(size)
    return True


def _agg_client(num_samples: int, weights: list[np.ndarray]) -> Any:
    try:
        from sedna.algorithms.aggregation import AggClient

        return AggClient(num_samples, weights)
    except ImportError:  # pragma: no cover - before sedna.algorithms.aggregation exists
        from types import SimpleNamespace

        return SimpleNamespace(num_samples=num_samples, weights=weights)


async def _requested_client(request: Request) -> str:
    """The ``client_id`` of a GET body, if the caller sent one (Sedna's clients may)."""
    try:
        body = await request.json()
    except Exception:  # no body, or not JSON: the whole listing
        return ""
    return str(body.get("client_id") or "") if isinstance(body, dict) else ""


def _bind_port(http_port: int | None) -> int:
    """The port to serve on: ``http_port``, else ``AGG_BIND_PORT``, else 7363.

    ``AGG_BIND_PORT`` is where the job's Service sends the trainers. Sedna's own examples pass
    ``http_port=int(Context.get_parameters("AGG_PORT", "7363"))`` on the aggregator, where
    ``AGG_PORT`` is unset: that literal default yields to ``AGG_BIND_PORT`` when the two differ
    (a runtime that moved the Service); any other explicit port is kept.
    """
    env_port = os.environ.get("AGG_BIND_PORT")
    if http_port is None:
        return int(env_port or SEDNA_DEFAULT_PORT)
    if int(http_port) == SEDNA_DEFAULT_PORT and env_port and int(env_port) != SEDNA_DEFAULT_PORT:
        LOGGER.info("serving on AGG_BIND_PORT=%s rather than Sedna's default %d", env_port, SEDNA_DEFAULT_PORT)
        return int(env_port)
    return int(http_port)


@dataclass
class _Conn:
    ws: WebSocket
    encoding: str = ENCODING_JSON
    connected: bool = True


@dataclass
class RoundRecord:
    """What happened in one round (kept for the GET route, reports and tests)."""

    round_number: int
    clients: list[str]
    total_sample: int
    seconds: float
    reason: str
    weights: list[np.ndarray] = field(repr=False, default_factory=list)


class AggregationServer(BaseServer):
    """Sedna's ``AggregationServer(aggregation, host, http_port, exit_round, participants_count, ws_size)``.

    :param aggregation: a registered ``FL_AGG`` name, a ``{"method", "param"}`` dict, a
        strategy class or instance; None: ``AGG_NAME``, else ``FedAvg``.
    :param participants_count: updates that close a round; None: ``PARTICIPANTS_COUNT``, else 1.
    :param round_timeout: seconds after a round's first update before it may close with
        ``min_participants`` clients (env ``ROUND_TIMEOUT_SECONDS``, default 300).
    :param min_participants: fewest clients a round may close with (env ``MIN_PARTICIPANTS``, 1).
    :param servername: Sedna 0.3's name of ``aggregation``.
    :param auth_key: the job's aggregation key; None: ``SEDNA_AGG_KEY``, else no authentication
        (Sedna's behaviour, with a warning).
    :param subscribe_max_size: largest frame before authentication (env
        ``AGG_SUBSCRIBE_MAX_SIZE``, 64 KiB).
    :param weight_store: where weights travel when they go through object storage; None:
        ``TRANSMITTER=s3`` gives one on ``AGG_DATA_PATH`` (see "Transmitters" above), else
        weights travel in the websocket frames.
    """

    def __init__(
        self,
        aggregation: Any = None,
        host: str | None = None,
        http_port: int | None = None,
        exit_round: int = 1,
        participants_count: int | None = None,
        ws_size: int | None = None,
        round_timeout: float | None = None,
        min_participants: int | None = None,
        servername: Any = None,
        auth_key: str | None = None,
        subscribe_max_size: int | None = None,
        weight_store: S3WeightStore | None = None,
    ) -> None:
        if aggregation is None:
            aggregation = servername
        name, strategy = build_aggregation(aggregation)
        host = host or os.environ.get("AGG_BIND_IP", "0.0.0.0")
        # never below 1 GiB: Sedna's 16 MiB cap silently broke large models
        super().__init__(name, host, _bind_port(http_port), ws_size=max(int(ws_size or 0), DEFAULT_WS_SIZE))
        self.aggregation_name = name
        self.aggregation = strategy
        self.exit_round = int(exit_round)
        if participants_count is None:
            participants_count = int(os.environ.get("PARTICIPANTS_COUNT") or 1)
        self.participants_count = max(1, int(participants_count))
        self.round_timeout = float(
            round_timeout if round_timeout is not None else os.environ.get("ROUND_TIMEOUT_SECONDS", "300")
        )
        self.min_participants = max(
            1, int(min_participants if min_participants is not None else os.environ.get("MIN_PARTICIPANTS", "1"))
        )
        self.clients: dict[str, _Conn] = {}
        self.current: dict[str, Any] = {}
        self.max_num_samples = int(Context.get_parameters("AGG_MAX_NUM_SAMPLES", DEFAULT_MAX_NUM_SAMPLES))
        #: (client id, reason) of every refused update or subscription, for the GET route, logs and tests
        self.rejected: list[tuple[str, str]] = []
        #: (round number, error) of every round whose strategy failed (it closed on a fallback)
        self.errors: list[tuple[int, str]] = []
        key = auth_key if auth_key is not None else os.environ.get(AGG_KEY_ENV)
        self.auth_key: str | None = key or None
        #: the frame limit of an authenticated connection (the server's own is the pre-auth one)
        self.frame_size = int(self.ws_size or DEFAULT_WS_SIZE)
        self.subscribe_max_size = int(
            subscribe_max_size
            or Context.get_parameters("AGG_SUBSCRIBE_MAX_SIZE", DEFAULT_SUBSCRIBE_MAX_SIZE)
        )
        self._warned_open = False
        self.weight_store = weight_store if weight_store is not None else s3_store_from_env()
        #: the URL of each round's aggregate when weights go through object storage
        self.global_urls: list[str] = []
        self.round_number = 0
        self.rounds: list[RoundRecord] = []
        self.finished = False
        self.start_time = time.time()
        self._round_started: float | None = None
        self._timer: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._lc_server = os.environ.get("LC_SERVER")
        # one thread: the LC receives the rounds in order
        self._report_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agg-report")
        self.app = self._build_app()

    # -- app ---------------------------------------------------------------------------------
    def _config(self) -> uvicorn.Config:
        config = super()._config()
        from uvicorn.config import WS_PROTOCOLS

        if _WS_IMPL in WS_PROTOCOLS:
            # the server's limit is the pre-authentication one; each connection is raised to
            # ``frame_size`` once it may send updates (``_set_frame_limit``)
            config.ws = _WS_IMPL
            config.ws_max_size = min(self.subscribe_max_size, self.frame_size)
        else:  # pragma: no cover - an older uvicorn: one limit for all, as before
            LOGGER.warning("uvicorn lacks %s: frames are not bounded before authentication", _WS_IMPL)
        return config

    def _build_app(self) -> FastAPI:
        app = FastAPI(title=f"sedna aggregation {self.aggregation_name}")
        path = f"/{self.aggregation_name}"

        @app.get(path)
        async def client_info(request: Request) -> dict[str, Any]:
            # Sedna's route: a JSON body {"client_id"} asks for that one client
            client_id = await _requested_client(request)
            clients = [
                {"client_id": cid, "encoding": c.encoding, "connected": c.connected}
                for cid, c in self.clients.items()
            ]
            if client_id:
                return next((c for c in clients if c["client_id"] == client_id), {})
            return {
                "aggregation": self.aggregation_name,
                "round_number": self.round_number,
                "exit_round": self.exit_round,
                "participants_count": self.participants_count,
                "clients": clients,
                "authenticated": self.auth_key is not None,
                "errors": [{"round_number": r, "error": e} for r, e in self.errors],
                "rounds": [
                    {"round_number": r.round_number, "clients": r.clients, "total_sample": r.total_sample,
                     "seconds": r.seconds, "reason": r.reason}
                    for r in self.rounds
                ],
            }

        @app.websocket(path)
        async def ws_endpoint(ws: WebSocket) -> None:
            await self._serve_client(ws)

        @app.websocket("/{route}")
        async def ws_any_route(ws: WebSocket, route: str) -> None:
            # Sedna 0.4+ trainers name the route after their own ``aggregation`` argument; the
            # strategy is this server's, so a trainer written for /FedAvg is served all the same.
            LOGGER.info("a client connected on /%s; aggregating with %s", route, self.aggregation_name)
            await self._serve_client(ws)

        return app

    def _open_frames(self, ws: WebSocket) -> None:
        """Let ``ws`` send frames up to ``frame_size`` (it may now send updates)."""
        if not _set_frame_limit(ws, self.frame_size):
            LOGGER.error("cannot raise the frame limit of a connection: this server stack is not %s", _WS_IMPL)

    def _warn_open(self) -> None:
        if not self._warned_open:
            self._warned_open = True
            LOGGER.warning(
                "no aggregation key (%s): clients are not authenticated, any client may send "
                "updates under any id (Sedna's behaviour); a sedna runtime injects the key",
                AGG_KEY_ENV,
            )

    async def _refuse(self, ws: WebSocket, client_id: Any, reason: str) -> None:
        """Refuse a connection that did not authenticate: tell it why, then close it (1008)."""
        LOGGER.warning("connection refused (client %s): %s", client_id, reason)
        self.rejected.append((str(client_id), reason))
        try:
            await ws.send_text(json.dumps({"type": "subscribe_rejected", "data": {"reason": reason}}))
            await ws.close(code=CLOSE_POLICY_VIOLATION, reason=reason[:120])
        except (RuntimeError, WebSocketDisconnect):
            pass

    async def _serve_client(self, ws: WebSocket) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        if self.auth_key is None:
            self._warn_open()
            # nothing to authenticate: updates may come at once, as with Sedna's server. Raised
            # before the handshake completes, so before any frame is parsed.
            self._open_frames(ws)
        await ws.accept()
        client_id: str | None = None
        try:
            while True:
                frame = await ws.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                weights: list[np.ndarray] | None = None
                if frame.get("bytes") is not None:
                    msg, weights = await asyncio.to_thread(decode_binary, frame["bytes"])
                else:
                    msg = json.loads(frame.get("text") or "{}")
                kind = msg.get("type")
                if self.auth_key is not None and client_id is None and kind != "subscribe":
                    await self._refuse(ws, msg.get("client"), f"subscribe with this client's token before {kind!r}")
                    return
                if kind == "subscribe":
                    requested = str(msg.get("client_id") or msg.get("client") or id(ws))
                    if self.auth_key is not None:
                        if client_id is not None and requested != client_id:
                            await self._refuse(ws, requested, f"this connection is client {client_id!r}, not {requested!r}")
                            return
                        if not _token_valid(self.auth_key, requested, msg.get("token") or _bearer(ws)):
                            await self._refuse(ws, requested, f"no valid aggregation token for client {requested!r}")
                            return
                        if client_id is None:
                            self._open_frames(ws)
                    client_id = requested
                    encoding = ENCODING_BINARY if msg.get("encoding") == ENCODING_BINARY else ENCODING_JSON
                    if msg.get("encoding") or msg.get("token") or self.auth_key is not None:
                        # acknowledged before the client is registered, so the ack is the first
                        # thing it hears (no broadcast slips in), and after the frame limit
                        # was raised, so the update it sends on the ack is within the limit
                        await ws.send_text(json.dumps({"type": "subscribe_ack", "encoding": encoding, "client_id": client_id}))
                    previous = self.clients.get(client_id)
                    if previous is not None and previous.ws is not ws and previous.connected:
                        LOGGER.info("client %s connected again; its previous connection is no longer heard", client_id)
                    self.clients[client_id] = _Conn(ws, encoding)
                    await self._resume_from(client_id, msg.get("round"))
                elif kind == "update_weight":
                    claimed = str(msg.get("client") or client_id or "")
                    cid = client_id or claimed
                    # one connection speaks for one client: the id it subscribed with (or, for a
                    # client that never subscribed, as Sedna allows without a key, the first id it used)
                    if claimed and claimed != cid:
                        await self._reject(ws, cid, f"this connection is client {cid!r}, not {claimed!r}")
                        continue
                    holder = self.clients.get(cid)
                    if holder is not None and holder.ws is not ws and holder.connected:
                        await self._reject(ws, cid, f"client id {cid!r} is in use by another live connection")
                        continue
                    if holder is None or holder.ws is not ws:
                        self.clients[cid] = _Conn(ws)
                    client_id = cid
                    data = msg.get("data") or {}
                    if weights is None and data.get("weights_url") is not None:
                        problem_or_weights = await self._fetch_update(cid, data.get("weights_url"))
                        if isinstance(problem_or_weights, str):
                            await self._reject(ws, cid, problem_or_weights)
                            continue
                        weights = problem_or_weights
                    if weights is None:
                        try:
                            weights = await asyncio.to_thread(weights_from_json, data.get("weights") or [])
                        except (TypeError, ValueError) as err:
                            await self._reject(ws, cid, f"weights cannot be read: {err}")
                            continue
                    problem = update_problem(data.get("num_samples", 0), weights, self._reference(), self.max_num_samples)
                    if problem is not None:
                        await self._reject(ws, cid, problem)
                        continue
                    await self._add_update(cid, int(data.get("num_samples", 0)), weights)
        except WebSocketDisconnect:
            pass
        finally:
            if client_id is not None and client_id in self.clients and self.clients[client_id].ws is ws:
                self.clients[client_id].connected = False
                await self._maybe_close_round()

    async def _fetch_update(self, client_id: str, url: Any) -> list[np.ndarray] | str:
        """The weights of an update sent as an object URL, or why they cannot be taken: this
        server has no weight store, the URL is not under ``AGG_DATA_PATH`` or not the client's
        own object (``<client id>.npz``), or it cannot be downloaded or read."""
        store = self.weight_store
        if store is None:
            return "weights_url needs TRANSMITTER=s3 on the aggregator; send the weights in the frame"
        if not isinstance(url, str) or not store.within(url):
            return f"weights_url {url!r} is outside AGG_DATA_PATH {store.base}"
        if url.rstrip("/").rsplit("/", 1)[-1] != f"{client_id}.npz":
            return f"weights_url {url!r} is not an object of client {client_id!r} (<client id>.npz)"
        try:
            return await asyncio.to_thread(store.get, url)
        except WeightTransferError as err:
            return str(err)
        except Exception as err:  # never let a storage failure end the connection
            return f"cannot read {url}: {type(err).__name__}: {err}"

    def _reference(self) -> list[np.ndarray] | None:
        """The shapes an update must have: the round's first update, else the last model."""
        for update in self.current.values():
            return list(update.weights)
        return list(self.rounds[-1].weights) if self.rounds and self.rounds[-1].weights else None

    async def _reject(self, ws: WebSocket, client_id: str | None, reason: str) -> None:
        """Refuse one update: it is not aggregated and the client is told why."""
        LOGGER.warning("update of client %s refused: %s", client_id, reason)
        self.rejected.append((str(client_id), reason))
        try:
            await ws.send_text(json.dumps({"type": "update_rejected", "data": {"reason": reason}}))
        except (RuntimeError, WebSocketDisconnect):
            pass

    # -- rounds ------------------------------------------------------------------------------
    async def _add_update(self, client_id: str, num_samples: int, weights: list[np.ndarray]) -> None:
        assert self._lock is not None
        async with self._lock:
            if self.finished:
                return
            if not self.current:
                self._round_started = time.monotonic()
                self._timer = asyncio.get_running_loop().create_task(self._round_timer(self.round_number))
            self.current[client_id] = _agg_client(num_samples, weights)
        await self._maybe_close_round()

    async def _resume_from(self, client_id: str, last_round: Any) -> None:
        """A client that reconnects says which round it last received: a restarted aggregator
        (whose count began at 0 again) numbers its rounds on from there instead of repeating
        them, and stops at ``exit_round`` as the first one would have."""
        try:
            known = int(last_round or 0)
        except (TypeError, ValueError):
            return
        assert self._lock is not None
        async with self._lock:
            # Taken even while updates are buffered: a client that missed the last broadcast
            # may have reconnected (and sent) first; the round in progress gets the next number
            # after the highest round any client received.
            if known > self.round_number:
                LOGGER.info("resuming after round %d (last round of client %s)", known, client_id)
                self.round_number = known

    async def _round_timer(self, round_index: int) -> None:
        await asyncio.sleep(self.round_timeout)
        await self._maybe_close_round(timed_out_round=round_index)

    def _close_reason(self, timed_out_round: int | None) -> str | None:
        n = len(self.current)
        if n == 0:
            return None
        if n >= self.participants_count:
            return "all"
        if n < self.min_participants:
            return None
        elapsed = time.monotonic() - (self._round_started or time.monotonic())
        if timed_out_round == self.round_number or elapsed >= self.round_timeout:
            return "timeout"
        # rule 3 (module docstring): every live client has sent, and each update short of the
        # count is the update of a client known to be dead. Not "some client ever disconnected":
        # one dead client (a bad one whose update was refused, say) would then close every
        # round before trainers that have not connected yet could send.
        if not all(cid in self.current for cid, c in self.clients.items() if c.connected):
            return None
        dead = [cid for cid, c in self.clients.items() if cid not in self.current and not c.connected]
        if dead and n + len(dead) >= self.participants_count:
            return "disconnect"
        return None

    async def _maybe_close_round(self, timed_out_round: int | None = None) -> None:
        if self._lock is None:
            return
        async with self._lock:
            if self.finished:
                return
            reason = self._close_reason(timed_out_round)
            if reason is None:
                return
            await self._close_round(reason)

    def _aggregate(self, clients: list[Any]) -> list[np.ndarray]:
        """The strategy's aggregate, checked: finite and of the updates' shapes (a NaN model
        broadcast would poison every trainer). Runs in a thread: both passes are O(model)."""
        new_weights = [np.asarray(w) for w in self.aggregation.aggregate(clients)]
        problem = update_problem(0, new_weights, list(clients[0].weights), self.max_num_samples)
        if problem is not None:
            raise ValueError(f"the aggregate is unusable: {problem}")
        return new_weights

    def _fallback(self, clients: list[Any]) -> tuple[list[np.ndarray], str]:
        """What a round whose strategy failed closes with: the last model (no update of this
        round can reach the model through a strategy the job did not choose), else, in the
        first round, the coordinate-wise median of the accepted updates (robust to a minority
        of bad ones)."""
        if self.rounds and self.rounds[-1].weights:
            return [np.array(w, copy=True) for w in self.rounds[-1].weights], "the last model"
        stacked = zip(*(c.weights for c in clients), strict=True)
        return [np.median(np.stack([np.asarray(w) for w in layer]), axis=0) for layer in stacked], "the median"

    async def _close_round(self, reason: str) -> None:
        # Atomic: nothing changes (buffer, round number) until the round's weights exist. The
        # lock is held, so no update joins the buffer while the strategy runs.
        updates = dict(self.current)
        # in client-id order, not arrival order: float sums depend on the order, and SGD can
        # amplify that last-bit difference into a different model (0.90 vs 0.93 on digits);
        # a fixed order makes rounds reproducible and strategy indices (Krum's ``selected``)
        # match ``RoundRecord.clients``
        clients = [updates[cid] for cid in sorted(updates)]
        try:
            new_weights = await asyncio.to_thread(self._aggregate, clients)
        except Exception as err:  # a failing strategy must not stall the round (see docstring)
            error = f"{type(err).__name__}: {err}"
            self.errors.append((self.round_number + 1, error))
            new_weights, used = self._fallback(clients)
            LOGGER.error(
                "aggregation %s failed in round %d (%s); the round closes with %s",
                self.aggregation_name, self.round_number + 1, error, used,
            )
            reason = f"{reason}; {self.aggregation_name} failed, {used}"
        self.current.clear()
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None
        total = int(sum(int(c.num_samples) for c in clients))
        self.round_number += 1
        exit_flag = "ok" if self.round_number >= self.exit_round else "continue"
        seconds = time.monotonic() - (self._round_started or time.monotonic())
        self.rounds.append(RoundRecord(self.round_number, sorted(updates), total, seconds, reason, new_weights))
        LOGGER.info(
            "aggregation round %d closed (%s) with %d client(s) (%s), %d samples",
            self.round_number, reason, len(clients), ", ".join(sorted(updates)), total,
        )
        await self._broadcast(new_weights, total, exit_flag)
        self._report(total, exit_flag)
        if exit_flag == "ok":
            self.finished = True
            asyncio.get_running_loop().call_later(0.5, self._request_exit)

    async def _broadcast(self, weights: list[np.ndarray], total: int, exit_flag: str) -> None:
        header: dict[str, Any] = {
            "type": "recv_weight",
            "round_number": self.round_number,
            "data": {"total_sample": total, "round_number": self.round_number, "exit_flag": exit_flag},
        }
        encoded: dict[str, Any] = {}
        if self.weight_store is not None:
            # through object storage: one upload, and every client gets the URL only
            try:
                url = await asyncio.to_thread(self.weight_store.put, weights, self.round_number, "global")
            except WeightTransferError as err:
                # the clients would wait forever without the round's model: send it in the frame
                LOGGER.error("round %d: %s; sending the weights over the websocket", self.round_number, err)
                self.errors.append((self.round_number, str(err)))
            else:
                self.global_urls.append(url)
                header["data"]["weights_url"] = url
                encoded["json"] = encoded["bin"] = json.dumps(header)
        for cid, conn in list(self.clients.items()):
            if not conn.connected:
                continue
            try:
                if isinstance(encoded.get("bin"), str):
                    await conn.ws.send_text(encoded["bin"])
                elif conn.encoding == ENCODING_BINARY:
                    if "bin" not in encoded:
                        encoded["bin"] = await asyncio.to_thread(encode_binary, header, weights)
                    await conn.ws.send_bytes(encoded["bin"])
                else:
                    if "json" not in encoded:
                        body = json.loads(json.dumps(header))
                        body["data"]["weights"] = await asyncio.to_thread(lambda: [w.tolist() for w in weights])
                        encoded["json"] = await asyncio.to_thread(json.dumps, body)
                    await conn.ws.send_text(encoded["json"])
            except Exception as err:  # a broken client must not stop the others
                LOGGER.warning("could not send weights to %s: %s", cid, err)
                conn.connected = False

    def _request_exit(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def _report(self, total: int, exit_flag: str) -> None:
        """Report the round to the LC (only when ``LC_SERVER`` is set for this worker)."""
        if not self._lc_server:
            return
        worker = os.environ.get("WORKER_NAME") or "aggregation"
        job = os.environ.get("JOB_NAME") or "sedna"
        message = {
            "name": worker,
            "namespace": os.environ.get("NAMESPACE") or job,
            "ownerName": job,
            "ownerKind": "federatedlearningjob",
            "kind": "train",
            "status": "completed" if exit_flag == "ok" else "running",
            "ownerInfo": {
                "currentRound": self.round_number,
                "sampleCount": total,
                "startTime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.start_time)),
                "updateTime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()),
                "participants": len(self.rounds[-1].clients) if self.rounds else 0,
            },
        }
        lc = self._lc_server
        # delivery (and buffering when the LC is down) off the event loop
        self._report_pool.submit(LCClient.send, lc, worker, message)


class AggregationServerV2:
    """Sedna 0.4+'s ``AggregationServerV2(data, estimator, aggregation, transmitter, chooser)``.

    Sedna runs a Plato server. A FedAvg-like aggregation (``FedAvgV2``, the default) runs here
    on :class:`AggregationServer` instead, which ``FederatedLearningV2`` trainers of this SDK
    talk to:

    * rounds: ``estimator.hyperparameters["rounds"]``, else the ``exit_round`` parameter, else 1;
    * a round closes when every trainer (``PARTICIPANTS_COUNT``) has sent, or, once the round
      timeout passed, when the chooser's ``per_round`` clients have;
    * binds ``AGG_BIND_IP`` (0.0.0.0) and ``AGG_BIND_PORT`` (7363); weights travel over the
      websocket, or through ``AGG_DATA_PATH`` with ``TRANSMITTER=s3`` (as the trainers do).

    ``MistNet`` (split learning) is handed to Plato, and raises
    :class:`~sedna.algorithms.aggregation.PlatoRequiredError` when the ``plato`` package is
    missing.
    """

    def __init__(self, data: Any = None, estimator: Any = None, aggregation: Any = None,
                 transmitter: Any = None, chooser: Any = None) -> None:
        self.data, self.estimator = data, estimator
        self.aggregation = aggregation if aggregation is not None else FedAvgV2()
        self.transmitter, self.chooser = transmitter, chooser
        self.mode = plato_mode(self.aggregation)
        self._plato: Any = None
        self.server: AggregationServer | None = None
        if self.mode != "fedavg":
            from sedna.core.federated_learning.plato import PlatoServer

            self._plato = PlatoServer(data, estimator, self.aggregation, transmitter, chooser)
            return
        per_round = self._per_round()
        participants = int(Context.get_parameters("PARTICIPANTS_COUNT", 0) or 0) or per_round or 1
        self.server = AggregationServer(
            aggregation=self.aggregation,
            host=Context.get_parameters("AGG_BIND_IP", "0.0.0.0"),
            http_port=int(Context.get_parameters("AGG_BIND_PORT", SEDNA_DEFAULT_PORT)),
            exit_round=self._rounds(),
            participants_count=participants,
            min_participants=min(per_round or participants, participants),
        )

    def _rounds(self) -> int:
        hyper = getattr(self.estimator, "hyperparameters", None) or {}
        return int(hyper.get("rounds") or Context.get_parameters("exit_round", 1))

    def _per_round(self) -> int | None:
        params = getattr(self.chooser, "parameters", None) or {}
        return int(params["per_round"]) if params.get("per_round") else None

    def start(self) -> None:
        """Serve until the last round (blocks, as Sedna's ``start``)."""
        if self._plato is not None:
            self._plato.start()
            return
        assert self.server is not None
        self.server.start()
