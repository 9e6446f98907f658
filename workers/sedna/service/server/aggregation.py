"""The federated-learning aggregation server (websocket ``/<aggregation>``).

Protocol (Sedna's): a client sends ``{"type": "subscribe", "client_id"}`` (ours adds ``"round"``,
the last round it received, when it reconnects: a restarted server numbers its rounds on from
the highest one), then each round
``{"type": "update_weight", "client", "data": {"num_samples", "weights"}, "job_name"}``; when a
round closes every connected client gets ``{"type": "recv_weight", "round_number", "data":
{"total_sample", "round_number", "weights", "exit_flag": "ok"|"continue"}}`` and the server stops
after ``exit_round`` rounds.

A round closes when (first that holds):

1. ``participants_count`` clients have sent weights (Sedna's only rule);
2. ``round_timeout`` seconds passed since the round's first update and at least
   ``min_participants`` clients have sent (a dead or hung client cannot stall the job);
3. at least ``min_participants`` have sent, a subscribed client has disconnected, and every
   client still connected has sent (no point waiting for the dead).

Extras negotiated per client: ``"encoding": "binary"`` in ``subscribe`` (acknowledged with
``subscribe_ack``) makes the server send that client binary weight frames
(:mod:`sedna.service.wire`); frames up to ``ws_size`` bytes (default 1 GiB) are accepted.

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
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect

from sedna.algorithms.aggregation.params import build_aggregation
from sedna.algorithms.aggregation.v2 import FedAvgV2, plato_mode
from sedna.common.config import Context
from sedna.service._log import LOGGER
from sedna.service.client import LCClient
from sedna.service.server.base import BaseServer
from sedna.service.wire import ENCODING_BINARY, ENCODING_JSON, decode_binary, encode_binary, weights_from_json

__all__ = ["AggregationServer", "AggregationServerV2", "RoundRecord"]

DEFAULT_WS_SIZE = 1 << 30
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
        #: (client id, reason) of every refused update, for the GET route, logs and tests
        self.rejected: list[tuple[str, str]] = []
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
                "rounds": [
                    {"round_number": r.round_number, "clients": r.clients, "total_sample": r.total_sample,
                     "seconds": r.seconds, "reason": r.reason}
                    for r in self.rounds
                ],
            }

        @app.websocket(path)
        async def ws_endpoint(ws: WebSocket) -> None:
            await ws.accept()
            await self._serve_client(ws)

        @app.websocket("/{route}")
        async def ws_any_route(ws: WebSocket, route: str) -> None:
            # Sedna 0.4+ trainers name the route after their own ``aggregation`` argument; the
            # strategy is this server's, so a trainer written for /FedAvg is served all the same.
            LOGGER.info("a client connected on /%s; aggregating with %s", route, self.aggregation_name)
            await ws.accept()
            await self._serve_client(ws)

        return app

    async def _serve_client(self, ws: WebSocket) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
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
                if kind == "subscribe":
                    client_id = str(msg.get("client_id") or msg.get("client") or id(ws))
                    encoding = ENCODING_BINARY if msg.get("encoding") == ENCODING_BINARY else ENCODING_JSON
                    self.clients[client_id] = _Conn(ws, encoding)
                    await self._resume_from(client_id, msg.get("round"))
                    if msg.get("encoding"):
                        await ws.send_text(json.dumps({"type": "subscribe_ack", "encoding": encoding}))
                elif kind == "update_weight":
                    claimed = str(msg.get("client") or client_id or "")
                    cid = client_id or claimed
                    # one connection speaks for one client: the id it subscribed with (or, for a
                    # client that never subscribed, as Sedna allows, the first id it used)
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
        gone = any(not c.connected for c in self.clients.values())
        alive = [cid for cid, c in self.clients.items() if c.connected]
        if gone and all(cid in self.current for cid in alive):
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

    async def _close_round(self, reason: str) -> None:
        updates = dict(self.current)
        self.current.clear()
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None
        # in client-id order, not arrival order: float sums depend on the order, and SGD can
        # amplify that last-bit difference into a different model (0.90 vs 0.93 on digits);
        # a fixed order makes rounds reproducible and strategy indices (Krum's ``selected``)
        # match ``RoundRecord.clients``
        clients = [updates[cid] for cid in sorted(updates)]
        new_weights = await asyncio.to_thread(self.aggregation.aggregate, clients)
        new_weights = [np.asarray(w) for w in new_weights]
        total = int(sum(int(c.num_samples) for c in clients))
        self.round_number += 1
        exit_flag = "ok" if self.round_number >= self.exit_round else "continue"
        seconds = time.monotonic() - (self._round_started or time.monotonic())
        self.rounds.append(RoundRecord(self.round_number, sorted(updates), total, seconds, reason, new_weights))
        LOGGER.info(
            "aggregation round %d closed (%s) with %d client(s), %d samples",
            self.round_number, reason, len(clients), total,
        )
        await self._broadcast(new_weights, total, exit_flag)
        self._report(total, exit_flag)
        if exit_flag == "ok":
            self.finished = True
            asyncio.get_running_loop().call_later(0.5, self._request_exit)

    async def _broadcast(self, weights: list[np.ndarray], total: int, exit_flag: str) -> None:
        header = {
            "type": "recv_weight",
            "round_number": self.round_number,
            "data": {"total_sample": total, "round_number": self.round_number, "exit_flag": exit_flag},
        }
        encoded: dict[str, Any] = {}
        for cid, conn in list(self.clients.items()):
            if not conn.connected:
                continue
            try:
                if conn.encoding == ENCODING_BINARY:
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
      websocket whatever the transmitter.

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
