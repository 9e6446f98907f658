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
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.service._log import LOGGER
from sedna.service.client import LCClient
from sedna.service.server.base import BaseServer
from sedna.service.wire import ENCODING_BINARY, ENCODING_JSON, decode_binary, encode_binary, weights_from_json

__all__ = ["AggregationServer", "RoundRecord"]

DEFAULT_WS_SIZE = 1 << 30


def _agg_client(num_samples: int, weights: list[np.ndarray]) -> Any:
    try:
        from sedna.algorithms.aggregation import AggClient

        return AggClient(num_samples, weights)
    except ImportError:  # pragma: no cover - before sedna.algorithms.aggregation exists
        from types import SimpleNamespace

        return SimpleNamespace(num_samples=num_samples, weights=weights)


def _aggregation_instance(name: str) -> Any:
    try:
        import sedna.algorithms.aggregation  # noqa: F401 - registers FedAvg & co
    except ImportError:
        pass
    return ClassFactory.get_cls(ClassType.FL_AGG, name)()


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

    :param round_timeout: seconds after a round's first update before it may close with
        ``min_participants`` clients (env ``ROUND_TIMEOUT_SECONDS``, default 300).
    :param min_participants: fewest clients a round may close with (env ``MIN_PARTICIPANTS``, 1).
    """

    def __init__(
        self,
        aggregation: str = "FedAvg",
        host: str | None = None,
        http_port: int | None = None,
        exit_round: int = 1,
        participants_count: int = 1,
        ws_size: int | None = None,
        round_timeout: float | None = None,
        min_participants: int | None = None,
    ) -> None:
        host = host or os.environ.get("AGG_BIND_IP", "0.0.0.0")
        port = int(http_port if http_port is not None else os.environ.get("AGG_BIND_PORT", "7363"))
        # never below 1 GiB: Sedna's 16 MiB cap silently broke large models
        super().__init__(aggregation, host, port, ws_size=max(int(ws_size or 0), DEFAULT_WS_SIZE))
        self.aggregation_name = aggregation
        self.aggregation = _aggregation_instance(aggregation)
        self.exit_round = int(exit_round)
        self.participants_count = max(1, int(participants_count))
        self.round_timeout = float(
            round_timeout if round_timeout is not None else os.environ.get("ROUND_TIMEOUT_SECONDS", "300")
        )
        self.min_participants = max(
            1, int(min_participants if min_participants is not None else os.environ.get("MIN_PARTICIPANTS", "1"))
        )
        self.clients: dict[str, _Conn] = {}
        self.current: dict[str, Any] = {}
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
        async def client_info() -> dict[str, Any]:
            return {
                "aggregation": self.aggregation_name,
                "round_number": self.round_number,
                "exit_round": self.exit_round,
                "participants_count": self.participants_count,
                "clients": [
                    {"client_id": cid, "encoding": c.encoding, "connected": c.connected}
                    for cid, c in self.clients.items()
                ],
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
                    cid = str(msg.get("client") or client_id)
                    if cid not in self.clients:  # a client that never subscribed (allowed by Sedna)
                        self.clients[cid] = _Conn(ws)
                    client_id = client_id or cid
                    data = msg.get("data") or {}
                    if weights is None:
                        weights = await asyncio.to_thread(weights_from_json, data.get("weights") or [])
                    await self._add_update(cid, int(data.get("num_samples", 0)), weights)
        except WebSocketDisconnect:
            pass
        finally:
            if client_id is not None and client_id in self.clients and self.clients[client_id].ws is ws:
                self.clients[client_id].connected = False
                await self._maybe_close_round()

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
        clients = list(updates.values())
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
