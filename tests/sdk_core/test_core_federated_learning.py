"""Federated learning: an in-process AggregationServer and 3 spawned client processes."""

from __future__ import annotations

import multiprocessing as mp
import pickle
import threading
import time

import httpx
import numpy as np
import pytest

from sedna.service.client import AggregationClient
from sedna.service.server import AggregationServer
from sedna.service.wire import decode_binary, encode_binary
from tests.sdk_core.conftest import free_port
from tests.sdk_core.sdk_models import load_digits_xy

SHARDS = [(0, 300), (300, 500), (500, 900)]


def _fedavg(updates: list[tuple[int, list[np.ndarray]]]) -> list[np.ndarray]:
    total = sum(n for n, _ in updates)
    return [sum(n * w[i] for n, w in updates) / total for i in range(len(updates[0][1]))]


def _run_clients(tmp_path, port: int, lc_url: str, encoding: str, shards=SHARDS) -> list[dict]:
    from tests.sdk_core.fl_client import run_client

    ctx = mp.get_context("spawn")
    data_path = tmp_path / "digits.npz"
    x, y = load_digits_xy()
    np.savez(data_path, x=x, y=y)
    procs, outs = [], []
    for i, (a, b) in enumerate(shards):
        out = tmp_path / f"client{i}.pkl"
        env = {
            "AGG_IP": "127.0.0.1", "AGG_PORT": str(port), "WORKER_NAME": f"trainworker-{i}",
            "JOB_NAME": "fl-demo", "NAMESPACE": "default", "LC_SERVER": lc_url, "AGG_ENCODING": encoding,
            "CONNECT_TIMEOUT": "60",
        }
        p = ctx.Process(target=run_client, args=(env, a, b, str(out), str(data_path)), daemon=True)
        p.start()
        procs.append(p)
        outs.append(out)
    for p in procs:
        p.join(90)
        assert p.exitcode == 0, f"client exited with {p.exitcode}"
    return [pickle.loads(o.read_bytes()) for o in outs]


@pytest.mark.parametrize("encoding", ["json", "binary"])
def test_three_clients_three_rounds_equal_numpy_fedavg(tmp_path, fake_lc, encoding):
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=3, participants_count=3)
    server.start_background()
    started = time.perf_counter()
    results = _run_clients(tmp_path, port, fake_lc.url, encoding)
    elapsed = time.perf_counter() - started
    assert server.wait(10), "the server must stop by itself after exit_round"
    assert [r.round_number for r in server.rounds] == [1, 2, 3]
    assert all(r.reason == "all" and len(r.clients) == 3 for r in server.rounds)
    for rnd in range(3):
        updates = [(res["num_samples"], res["sent"][rnd]) for res in results]
        expected = _fedavg(updates)
        for got, want in zip(server.rounds[rnd].weights, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # what the clients ended with is exactly the last aggregate (no float-to-text loss either way)
    for res in results:
        for got, want in zip(res["final"], server.rounds[-1].weights, strict=True):
            np.testing.assert_array_equal(got, want)
    print(f"{encoding}: 3 rounds x 3 clients in {elapsed:.2f}s; "
          f"round seconds {[round(r.seconds, 3) for r in server.rounds]}")

    reports = fake_lc.of_kind("train")
    by_worker = {}
    for r in reports:
        by_worker.setdefault(r["name"], []).append(r)
    # the aggregator reports its rounds too (LC_SERVER is set in this process)
    agg = by_worker.pop("aggregation")
    assert [r["ownerInfo"]["currentRound"] for r in agg] == [1, 2, 3]
    assert agg[-1]["status"] == "completed" and agg[-1]["ownerKind"] == "federatedlearningjob"
    assert set(by_worker) == {"trainworker-0", "trainworker-1", "trainworker-2"}
    for rs in by_worker.values():
        assert [r["status"] for r in rs] == ["running", "running", "completed"]
        assert [r["ownerInfo"]["currentRound"] for r in rs] == [1, 2, 3]
        for r in rs:
            assert r["ownerKind"] == "federatedlearningjob"  # Sedna forgot it; the LC dropped reports
            assert r["ownerName"] == "fl-demo" and r["namespace"] == "default" and r["kind"] == "train"
            assert set(r["ownerInfo"]) == {"currentRound", "sampleCount", "startTime", "updateTime"}
            assert r["ownerInfo"]["sampleCount"] == 900


def test_dead_client_round_timeout(tmp_path, fake_lc):
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=2,
                               participants_count=3, round_timeout=1.0, min_participants=2)
    server.start_background()
    # a client that subscribes and then hangs forever (never sends weights)
    hung = AggregationClient(f"ws://127.0.0.1:{port}/FedAvg", client_id="hung", ping_timeout=5)
    info = httpx.get(f"http://127.0.0.1:{port}/FedAvg").json()
    assert {"client_id": "hung", "encoding": "json", "connected": True} in info["clients"]
    results = _run_clients(tmp_path, port, fake_lc.url, "binary", shards=SHARDS[:2])
    assert server.wait(10)
    assert [r.reason for r in server.rounds] == ["timeout", "timeout"]
    assert all(sorted(r.clients) == ["trainworker-0", "trainworker-1"] for r in server.rounds)
    for rnd in range(2):
        expected = _fedavg([(res["num_samples"], res["sent"][rnd]) for res in results])
        for got, want in zip(server.rounds[rnd].weights, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12)
    # the hung client, still connected, got the broadcasts too
    msg = hung.recv("recv_weight", timeout=5)
    assert msg is not None and msg["data"]["round_number"] == 1
    hung.close()


def test_binary_codec_roundtrip_and_large_frames():
    weights = [np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1.5, -2.25]), np.int64(7) * np.ones(1)]
    header, back = decode_binary(encode_binary({"type": "update_weight", "data": {"num_samples": 3}}, weights))
    assert header["type"] == "update_weight" and header["data"]["num_samples"] == 3
    for a, b in zip(weights, back, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_large_model_over_16_mib(tmp_path):
    """A 24 MiB layer crosses Sedna's 16 MiB websocket limit; it must still aggregate."""
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=1, participants_count=1)
    server.start_background()
    client = AggregationClient(f"ws://127.0.0.1:{port}/FedAvg", client_id="big", ping_timeout=5, encoding="binary")
    assert client.encoding == "binary"
    layer = np.random.default_rng(0).standard_normal(3 * 1024 * 1024)  # 24 MiB of float64
    client.send({"num_samples": 5, "weights": [layer]}, msg_type="update_weight", job_name="fl")
    msg = client.recv("recv_weight", timeout=30)
    assert msg is not None and msg["data"]["exit_flag"] == "ok"
    np.testing.assert_array_equal(msg["data"]["weights"][0], layer)
    client.close()
    assert server.wait(10)


def test_client_retries_until_server_is_up():
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=1, participants_count=1)
    threading.Timer(0.7, server.start_background).start()
    client = AggregationClient(f"ws://127.0.0.1:{port}/FedAvg", client_id="late", ping_timeout=10)
    client.send({"num_samples": 1, "weights": [np.ones(2)]}, msg_type="update_weight")
    msg = client.recv("recv_weight", timeout=10)
    assert msg is not None
    np.testing.assert_array_equal(msg["data"]["weights"][0], np.ones(2))
    client.close()
    assert server.wait(10)


def test_restarted_aggregator_resumes_the_round_count(tmp_path, fake_lc):
    """The aggregator dies mid-job and a new one (its memory empty) takes its port: the trainers
    reconnect, resend their update, and the rounds go on from where they were, none repeated."""
    port, rounds = free_port(), 30
    first = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=rounds, participants_count=3)
    first.start_background()
    second: list[AggregationServer] = []

    def restart() -> None:
        while first.round_number < 2:
            time.sleep(0.005)
        first.stop()
        server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=rounds, participants_count=3)
        server.start_background()
        second.append(server)

    watcher = threading.Thread(target=restart, daemon=True)
    watcher.start()
    results = _run_clients(tmp_path, port, fake_lc.url, "json")
    watcher.join(10)
    assert second and second[0].wait(10)
    before = [r.round_number for r in first.rounds]
    after = [r.round_number for r in second[0].rounds]
    # The new server goes on from the last round a client received. A round the first server
    # closed while it was stopping (its weights never reached a client) is done again, once.
    assert before and after and after[0] in (before[-1], before[-1] + 1), (before, after)
    assert before == list(range(1, before[-1] + 1)) and after == list(range(after[0], rounds + 1))
    assert all(len(res["final"]) for res in results)  # every trainer got to the end (exit 0)
