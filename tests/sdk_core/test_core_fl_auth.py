"""Issue 12 item 5: the aggregation server does not trust its clients.

Real websocket clients against a real :class:`AggregationServer` on 127.0.0.1: per-job
aggregation credentials (ids bound to tokens, resume by the owner only), the frame bound before
authentication, an atomic round close when the strategy fails, and the close rule's dead clients.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from sedna.algorithms.aggregation import FedAvg
from sedna.service.client import AggregationAuthError, AggregationClient
from sedna.service.server import AggregationServer
from sedna.service.server.aggregation import client_token
from sedna.service.wire import weights_to_json
from tests.sdk_core.conftest import free_port

KEY = "0123456789abcdef" * 4
W = [np.ones((2, 3)), np.zeros(3)]


@pytest.fixture(autouse=True)
def _no_agg_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEDNA_AGG_KEY", "SEDNA_AGG_TOKEN", "SEDNA_AGG_CLIENT_ID", "AGG_SUBSCRIBE_MAX_SIZE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[AggregationServer] = []

    def _start(**kw: Any) -> tuple[AggregationServer, str]:
        port = free_port()
        kw.setdefault("exit_round", 1)
        server = AggregationServer(kw.pop("aggregation", "FedAvg"), host="127.0.0.1", http_port=port, **kw)
        server.start_background()
        servers.append(server)
        return server, f"ws://127.0.0.1:{port}/FedAvg"

    yield _start
    for server in servers:
        server.stop()


def _client(url: str, cid: str, key: str | None = KEY, **kw: Any) -> AggregationClient:
    token = client_token(key, cid) if key else None
    return AggregationClient(url=url, client_id=cid, ping_timeout=10, token=token, **kw)


def _raw(url: str) -> Any:
    return connect(url, max_size=None, open_timeout=5, ping_interval=None)


def _closed_with(ws: Any, code: int, timeout: float = 5) -> tuple[list[dict[str, Any]], Any]:
    """Messages received until the server closes ``ws``; asserts the close code."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as info:
        while time.monotonic() < deadline:
            got.append(json.loads(ws.recv(timeout=timeout)))
    assert info.value.rcvd is not None and info.value.rcvd.code == code, info.value
    return got, info.value.rcvd


def _update(n: int = 10, weights: list[np.ndarray] | None = None) -> dict[str, Any]:
    return {"num_samples": n, "weights": weights if weights is not None else W}


# -- 1. authentication ----------------------------------------------------------------------------
def test_keyed_aggregator_refuses_clients_without_a_valid_token(serve: Any) -> None:
    server, url = serve(participants_count=2, auth_key=KEY)
    # no token: told why, then closed with 1008
    with _raw(url) as ws:
        ws.send(json.dumps({"type": "subscribe", "client_id": "train-0"}))
        got, close = _closed_with(ws, 1008)
        assert got[0]["type"] == "subscribe_rejected" and "no valid aggregation token" in got[0]["data"]["reason"]
    # a token of another id, and an update without any subscription
    with _raw(url) as ws:
        ws.send(json.dumps({"type": "subscribe", "client_id": "train-0", "token": client_token(KEY, "train-1")}))
        _closed_with(ws, 1008)
    with _raw(url) as ws:
        ws.send(json.dumps({"type": "update_weight", "client": "train-0", "data": {"num_samples": 1, "weights": []}}))
        got, _ = _closed_with(ws, 1008)
        assert "subscribe with this client's token" in got[0]["data"]["reason"]
    # the SDK raises a clear error, which its reconnect loop does not retry
    with pytest.raises(AggregationAuthError, match="no valid aggregation token"):
        _client(url, "train-0", key="not-the-key")
    assert not issubclass(AggregationAuthError, OSError)
    assert server.clients == {} and server.rounds == []
    # the Authorization header on the handshake works as well as the token field
    with connect(url, additional_headers={"Authorization": f"Bearer {client_token(KEY, 'train-0')}"}) as ws:
        ws.send(json.dumps({"type": "subscribe", "client_id": "train-0"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "subscribe_ack"
    assert "train-0" in server.clients


def test_an_authenticated_connection_speaks_for_its_own_id_only(serve: Any) -> None:
    server, url = serve(participants_count=2, auth_key=KEY, exit_round=2)
    a = _client(url, "train-0")
    b = _client(url, "train-1")
    # b, authenticated as train-1, claims train-0's update: refused, never aggregated
    b.client_id = "train-0"
    b.send(_update(1000), msg_type="update_weight")
    refused = b.recv("update_rejected", timeout=5)
    assert refused is not None and "this connection is client 'train-1'" in refused["data"]["reason"]
    assert server.current == {}
    b.client_id = "train-1"
    a.send(_update(10), msg_type="update_weight")
    b.send(_update(30, [np.full((2, 3), 5.0), np.ones(3)]), msg_type="update_weight")
    result = a.recv("recv_weight", timeout=10)
    assert result is not None and result["data"]["total_sample"] == 40
    assert server.rounds[0].clients == ["train-0", "train-1"]
    # a second id on one connection (even with that id's valid token) closes it
    with _raw(url) as ws:
        ws.send(json.dumps({"type": "subscribe", "client_id": "train-2", "token": client_token(KEY, "train-2")}))
        assert json.loads(ws.recv(timeout=5))["type"] == "subscribe_ack"
        ws.send(json.dumps({"type": "subscribe", "client_id": "train-0", "token": client_token(KEY, "train-0")}))
        _closed_with(ws, 1008)
    assert server.clients["train-0"].ws is not None and server.rejected[-1][0] == "train-0"
    a.close()
    b.close()


def test_a_valid_token_resumes_its_own_id_but_never_anothers(serve: Any) -> None:
    server, url = serve(participants_count=2, auth_key=KEY)
    old = _client(url, "train-0")
    other = _client(url, "train-1")
    # the trainer restarts: a new connection with its own token takes train-0 over
    new = _client(url, "train-0")
    assert server.clients["train-0"].ws is not None
    old.send(_update(10), msg_type="update_weight")
    refused = old.recv("update_rejected", timeout=5)
    assert refused is not None and "in use by another live connection" in refused["data"]["reason"]
    # train-1's token cannot take train-0 over
    with _raw(url) as ws:
        ws.send(json.dumps({"type": "subscribe", "client_id": "train-0", "token": client_token(KEY, "train-1")}))
        _closed_with(ws, 1008)
    new.send(_update(10), msg_type="update_weight")
    other.send(_update(10), msg_type="update_weight")
    assert new.recv("recv_weight", timeout=10) is not None
    assert server.rounds[0].clients == ["train-0", "train-1"]
    for c in (old, new, other):
        c.close()


def test_the_sdk_takes_its_credentials_from_the_runtime_env(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both runtimes inject what ``lc.auth.aggregation_env`` gives; an unchanged Sedna script
    (it passes its pod name as the client id) is authenticated as its slot."""
    from sedna_operator.lc.auth import aggregation_env

    agg = aggregation_env("lc-secret", "default", "FederatedLearningJob", "fl-job", "aggregation", "aggregation")
    trainer = aggregation_env("lc-secret", "default", "federatedlearningjob", "fl-job", "train", "train-0")
    assert set(agg) == {"SEDNA_AGG_KEY"} and trainer["SEDNA_AGG_CLIENT_ID"] == "train-0"
    assert aggregation_env("lc-secret", "default", "IncrementalLearningJob", "il", "train", "train-0") == {}
    assert aggregation_env("lc-secret", "default", "Dataset", "d", "train", None) == {}
    monkeypatch.setenv("SEDNA_AGG_KEY", agg["SEDNA_AGG_KEY"])
    server, url = serve(participants_count=1)
    assert server.auth_key == agg["SEDNA_AGG_KEY"]
    monkeypatch.setenv("SEDNA_AGG_TOKEN", trainer["SEDNA_AGG_TOKEN"])
    monkeypatch.setenv("SEDNA_AGG_CLIENT_ID", trainer["SEDNA_AGG_CLIENT_ID"])
    client = AggregationClient(url=url, client_id="fl-job-train-x7k2p", ping_timeout=10, encoding="binary")
    assert client.client_id == "train-0" and client.encoding == "binary"
    client.send(_update(), msg_type="update_weight")
    assert client.recv("recv_weight", timeout=10) is not None
    assert server.rounds[0].clients == ["train-0"]
    client.close()


def test_without_a_key_the_server_stays_open_and_warns_once(serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Sedna's behaviour for a script run by hand: no tokens, updates at once (large ones
    too), a token sent anyway is ignored; one warning."""
    server, url = serve(participants_count=4, exit_round=1)
    big = [np.ones((512, 512)), np.zeros(3)]  # 2 MiB in binary, over 0.5 MiB in JSON
    with caplog.at_level(logging.WARNING, logger="sedna"):
        a = _client(url, "a", key=None)
        b = _client(url, "b", key=None, encoding="binary")
        c = _client(url, "c", key="some-key")  # an unkeyed server accepts (and acks) it
        with _raw(url) as ws:  # Sedna's own client: subscribe, then the update at once
            ws.send(json.dumps({"type": "subscribe", "client_id": "d"}))
            ws.send(json.dumps({"type": "update_weight", "client": "d",
                                "data": {"num_samples": 1, "weights": weights_to_json(big)}}))
            for cl in (a, b, c):
                cl.send(_update(1, big), msg_type="update_weight")
            assert a.recv("recv_weight", timeout=20) is not None
    warnings = [r for r in caplog.records if "no aggregation key" in r.getMessage()]
    assert len(warnings) == 1
    assert sorted(server.clients) == ["a", "b", "c", "d"]
    for cl in (a, b, c):
        cl.close()


# -- 4. frames are bounded until authentication ---------------------------------------------------
def _frame_header(length: int) -> bytes:
    """A masked text frame's header announcing ``length`` payload bytes."""
    return bytes([0x81, 0x80 | 127]) + struct.pack("!Q", length) + os.urandom(4)


def test_frames_before_authentication_are_bounded(serve: Any) -> None:
    server, url = serve(participants_count=1, auth_key=KEY)
    # a frame announcing 1 GiB is refused from its header: the payload is never read
    with _raw(url) as ws:
        ws.socket.sendall(_frame_header(1 << 30) + b"x" * 1024)
        _closed_with(ws, 1009)
    # a padded subscription over 64 KiB, too
    with _raw(url) as ws:
        ws.send(json.dumps({"type": "subscribe", "client_id": "train-0", "token": client_token(KEY, "train-0"),
                            "pad": "x" * (70 * 1024)}))
        _closed_with(ws, 1009)
    assert server.clients == {}
    # once authenticated, a 2 MiB update (binary) is accepted
    client = _client(url, "train-0", encoding="binary")
    client.send(_update(5, [np.ones((512, 512)), np.zeros(3)]), msg_type="update_weight")
    result = client.recv("recv_weight", timeout=20)
    assert result is not None and result["data"]["weights"][0].shape == (512, 512)
    client.close()


def test_the_pre_authentication_bound_is_a_setting(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGG_SUBSCRIBE_MAX_SIZE", "128")
    server, url = serve(participants_count=1, auth_key=KEY)
    assert server.subscribe_max_size == 128
    with pytest.raises(ConnectionClosed):  # the subscription itself (~200 bytes) is too large now
        _client(url, "a-rather-long-client-id-" + "x" * 64)


# -- 2. a failing strategy does not stall the round -----------------------------------------------
class _Flaky(FedAvg):
    """Raises in the rounds listed, returns NaN in those listed, else FedAvg."""

    def __init__(self, raise_in: set[int], nan_in: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__()
        self.calls = 0
        self.raise_in, self.nan_in = raise_in, nan_in

    def aggregate(self, clients: list[Any]) -> Any:
        self.calls += 1
        if self.calls in self.raise_in:
            raise RuntimeError("strategy bug")
        out = super().aggregate(clients)
        return [np.full_like(np.asarray(w, dtype=float), np.nan) for w in out] if self.calls in self.nan_in else out


def test_a_failing_strategy_closes_the_round_on_a_fallback(serve: Any) -> None:
    strategy = _Flaky(raise_in={1, 3}, nan_in={4})
    server, url = serve(aggregation=strategy, participants_count=3, exit_round=4)
    clients = [_client(url, f"t{i}", key=None) for i in range(3)]
    values = ([1.0, 2.0, 10.0], [1.0, 1.0, 1.0], [3.0, 3.0, 3.0], [5.0, 5.0, 5.0])
    seen = []
    for rnd, vals in enumerate(values, start=1):
        for cl, v in zip(clients, vals, strict=True):
            cl.send(_update(10, [np.full((2, 3), v), np.zeros(3)]), msg_type="update_weight")
        got = [cl.recv("recv_weight", timeout=10) for cl in clients]
        assert all(g is not None and g["round_number"] == rnd for g in got), f"round {rnd} stalled"
        seen.append(float(got[0]["data"]["weights"][0][0, 0]))
    # round 1 raised: the median (2.0, not the mean 4.33); round 2 FedAvg; round 3 raised: the
    # last model; round 4 NaN: the last model again
    assert seen == [2.0, 1.0, 1.0, 1.0]
    assert [r for r, _ in server.errors] == [1, 3, 4]
    assert "RuntimeError: strategy bug" in server.errors[0][1] and "NaN" in server.errors[2][1]
    assert server.rounds[0].reason == "all; _Flaky failed, the median"
    assert server.rounds[2].reason == "all; _Flaky failed, the last model"
    assert server.wait(5)
    for cl in clients:
        cl.close()


# -- 3. a dead bad client does not close the round early ------------------------------------------
def test_a_refused_then_dead_client_is_not_a_participant(serve: Any) -> None:
    server, url = serve(participants_count=3, auth_key=KEY, round_timeout=60)
    a = _client(url, "train-0")
    bad = _client(url, "train-1")
    a.send(_update(10), msg_type="update_weight")
    bad.send(_update(10, [np.full((2, 3), np.nan), np.zeros(3)]), msg_type="update_weight")
    assert bad.recv("update_rejected", timeout=5) is not None
    bad.close()
    time.sleep(0.5)
    # train-2 has not connected yet: one dead client stands in for one missing update only
    assert server.rounds == [], server.rounds
    c = _client(url, "train-2")
    c.send(_update(10), msg_type="update_weight")
    assert a.recv("recv_weight", timeout=10) is not None
    assert server.rounds[0].clients == ["train-0", "train-2"]
    assert server.rounds[0].reason == "disconnect"
    a.close()
    c.close()


def test_the_close_rule_still_does_not_wait_for_the_dead(serve: Any) -> None:
    server, url = serve(participants_count=3, auth_key=KEY, round_timeout=60, exit_round=2)
    clients = {cid: _client(url, cid) for cid in ("train-0", "train-1", "train-2")}
    clients.pop("train-2").close()  # a trainer died
    for cl in clients.values():
        cl.send(_update(10), msg_type="update_weight")
    assert all(cl.recv("recv_weight", timeout=10) is not None for cl in clients.values())
    assert server.rounds[0].reason == "disconnect" and server.rounds[0].clients == ["train-0", "train-1"]
    # it is still dead in the next round: not waited for
    for cl in clients.values():
        cl.send(_update(10), msg_type="update_weight")
    assert clients["train-1"].recv("recv_weight", timeout=10) is not None
    assert [r.reason for r in server.rounds] == ["disconnect", "disconnect"]
    for cl in clients.values():
        cl.close()
