"""Federated learning with ``TRANSMITTER=s3``: weights travel as ``.npz`` objects under
``AGG_DATA_PATH`` on a real S3 server (tests/s3/conftest.py) and the websocket carries URLs."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import ClientConnection

from sedna.algorithms.transmitter import S3WeightStore
from sedna.service.client import AggregationClient
from sedna.service.server import AggregationServer
from tests.s3.conftest import S3Server
from tests.sdk_core.conftest import free_port
from tests.sdk_core.sdk_models import SoftmaxEstimator, load_digits_xy

ROUNDS = 3
JOB = "fl-s3"


class _XY:
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every websocket frame the SDK's clients send or receive: (direction, size in bytes)."""
    seen: list[tuple[str, int]] = []
    send, recv = ClientConnection.send, ClientConnection.recv

    def counting_send(self: ClientConnection, message: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(("sent", len(message)))
        return send(self, message, *args, **kwargs)

    def counting_recv(self: ClientConnection, *args: Any, **kwargs: Any) -> Any:
        message = recv(self, *args, **kwargs)
        seen.append(("received", len(message)))
        return message

    monkeypatch.setattr(ClientConnection, "send", counting_send)
    monkeypatch.setattr(ClientConnection, "recv", counting_recv)
    return seen


def _s3_env(monkeypatch: pytest.MonkeyPatch, s3: S3Server, on: bool, job: str = JOB) -> None:
    for key in ("LC_SERVER", "SEDNA_AGG_KEY", "SEDNA_AGG_TOKEN", "SEDNA_AGG_CLIENT_ID", "DATASET_NAME", "MODEL_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("JOB_NAME", job)
    monkeypatch.setenv("S3_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    if on:
        monkeypatch.setenv("TRANSMITTER", "s3")
        monkeypatch.setenv("AGG_DATA_PATH", f"s3://{s3.bucket}/fl")
    else:
        monkeypatch.setenv("TRANSMITTER", "ws")
        monkeypatch.delenv("AGG_DATA_PATH", raising=False)


def _fl_run(monkeypatch: pytest.MonkeyPatch, encoding: str = "json") -> tuple[AggregationServer, float]:
    """An aggregator and 3 FederatedLearning trainers on digits shards, ROUNDS rounds; returns
    the server and the accuracy of the final model on held-out digits."""
    from sedna.core.federated_learning import FederatedLearning

    x, y = load_digits_xy()
    shards = [_XY(x[a:b], y[a:b]) for a, b in [(0, 300), (300, 600), (600, 900)]]
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=ROUNDS, participants_count=3)
    server.start_background()
    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(port))
    monkeypatch.setenv("CONNECT_TIMEOUT", "20")
    monkeypatch.setenv("AGG_ENCODING", encoding)
    trainers = []
    for i in range(3):
        monkeypatch.setenv("WORKER_NAME", f"trainworker-{i}")
        trainers.append(FederatedLearning(estimator=SoftmaxEstimator(epochs=20, seed=i), aggregation="FedAvg"))
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            trainers[i].train(train_data=shards[i])
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert server.wait(10)
    est = SoftmaxEstimator()
    est.set_weights(server.rounds[-1].weights)
    accuracy = est.evaluate(_XY(x[1500:], y[1500:]))["accuracy"]
    # every trainer ended with the last aggregate
    for trainer in trainers:
        for got, want in zip(trainer.estimator.get_weights(), server.rounds[-1].weights, strict=True):
            np.testing.assert_array_equal(got, want)
    return server, accuracy


@pytest.mark.parametrize("encoding", ["json", "binary"])
def test_fl_weights_travel_through_s3(s3: S3Server, monkeypatch: pytest.MonkeyPatch,
                                      frames: list[tuple[str, int]], encoding: str) -> None:
    job = f"{JOB}-{encoding}"
    _s3_env(monkeypatch, s3, on=False, job=job)
    ws_server, ws_accuracy = _fl_run(monkeypatch, encoding)
    ws_bytes = sum(n for _, n in frames)
    assert ws_server.global_urls == []
    frames.clear()
    assert s3.keys(f"fl/{job}/") == []

    _s3_env(monkeypatch, s3, on=True, job=job)
    server, accuracy = _fl_run(monkeypatch, encoding)
    assert [r.round_number for r in server.rounds] == list(range(1, ROUNDS + 1))
    assert all(r.reason == "all" and len(r.clients) == 3 for r in server.rounds)
    assert server.rejected == []
    # the objects of every round: the three updates and the aggregate
    keys = set(s3.keys(f"fl/{job}/"))
    expected = {f"fl/{job}/round-{r}/{name}.npz" for r in range(1, ROUNDS + 1)
                for name in ("trainworker-0", "trainworker-1", "trainworker-2", "global")}
    assert keys == expected
    assert server.global_urls == [f"s3://sedna/fl/{job}/round-{r}/global.npz" for r in range(1, ROUNDS + 1)]
    # the objects are plain .npz (no pickle) and the aggregate is the round's model
    for r in range(1, ROUNDS + 1):
        with np.load(io.BytesIO(s3.get(f"fl/{job}/round-{r}/global.npz")), allow_pickle=False) as npz:
            got = [npz[f"arr_{i}"] for i in range(len(npz.files))]
        for a, b in zip(got, server.rounds[r - 1].weights, strict=True):
            np.testing.assert_array_equal(a, b)
    # the websocket carried no weights: a 64x10 + 10 float model is ~5 KiB binary, ~13 KiB JSON
    assert frames, "the frame counter saw nothing"
    assert max(n for _, n in frames) < 1024, sorted(frames, key=lambda f: -f[1])[:3]
    assert sum(n for _, n in frames) < ws_bytes / 5
    # the same model as over the websocket (npz keeps every bit)
    assert abs(accuracy - ws_accuracy) < 0.01, (accuracy, ws_accuracy)
    for a, b in zip(server.rounds[-1].weights, ws_server.rounds[-1].weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    print(f"{encoding}: accuracy s3 {accuracy:.3f} ws {ws_accuracy:.3f}; frame bytes s3 "
          f"{sum(n for _, n in frames)} ws {ws_bytes}")


def test_bad_update_urls_are_refused_and_the_round_closes(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _s3_env(monkeypatch, s3, on=True)
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=1, participants_count=3,
                               round_timeout=1.5, min_participants=2)
    server.start_background()
    url = f"ws://127.0.0.1:{port}/FedAvg"
    store = S3WeightStore(f"s3://{s3.bucket}/fl", JOB)
    good = [AggregationClient(url, client_id=f"good-{i}", ping_timeout=10, weight_store=store) for i in range(2)]
    bad = AggregationClient(url, client_id="bad", ping_timeout=10)
    weights = [np.full((2, 3), float(i + 1)) for i in range(2)]
    # another bucket, a path escaping AGG_DATA_PATH, a missing object, another client's object,
    # an object that is not an .npz: each refused with its reason, the connection stays up
    s3.put(f"fl/{JOB}/round-1/bad.npz", b"not a numpy archive")
    attempts = {
        "s3://elsewhere/fl/x/round-1/bad.npz": "outside AGG_DATA_PATH",
        f"s3://{s3.bucket}/fl/../secrets/bad.npz": "outside AGG_DATA_PATH",
        f"s3://{s3.bucket}/other/bad.npz": "outside AGG_DATA_PATH",
        f"s3://{s3.bucket}/fl/{JOB}/round-1/missing/bad.npz": "cannot download",
        f"s3://{s3.bucket}/fl/{JOB}/round-1/good-0.npz": "not an object of client 'bad'",
        f"s3://{s3.bucket}/fl/{JOB}/round-1/bad.npz": "not a readable .npz",
    }
    good[0].send({"num_samples": 10, "weights": weights[0]}, msg_type="update_weight", job_name=JOB)
    for target, reason in attempts.items():
        bad.send({"num_samples": 10, "weights_url": target}, msg_type="update_weight", job_name=JOB)
        msg = bad.recv("update_rejected", timeout=10)
        assert msg is not None, target
        assert reason in msg["data"]["reason"], (target, msg["data"]["reason"])
    good[1].send({"num_samples": 30, "weights": weights[1]}, msg_type="update_weight", job_name=JOB)
    received = [c.recv("recv_weight", timeout=15) for c in [*good, bad]]
    assert all(m is not None for m in received)
    assert server.wait(10)
    assert [r.clients for r in server.rounds] == [["good-0", "good-1"]]
    assert server.rounds[0].reason == "timeout"
    assert [cid for cid, _ in server.rejected] == ["bad"] * len(attempts)
    expected = [(10 * weights[0][i] + 30 * weights[1][i]) / 40 for i in range(2)]
    for msg in received:
        assert msg is not None and msg["data"]["weights_url"].endswith("/round-1/global.npz")
        for got, want in zip(msg["data"]["weights"], expected, strict=True):
            np.testing.assert_allclose(got, want)
    for c in [*good, bad]:
        c.close()


def test_weights_url_is_refused_without_the_s3_transmitter(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    _s3_env(monkeypatch, s3, on=False)
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=1, participants_count=1)
    server.start_background()
    client = AggregationClient(f"ws://127.0.0.1:{port}/FedAvg", client_id="c", ping_timeout=10)
    client.send({"num_samples": 1, "weights_url": f"s3://{s3.bucket}/fl/c.npz"}, msg_type="update_weight")
    msg = client.recv("update_rejected", timeout=10)
    assert msg is not None and "TRANSMITTER=s3" in msg["data"]["reason"]
    client.send({"num_samples": 1, "weights": [np.ones(3)]}, msg_type="update_weight")
    msg = client.recv("recv_weight", timeout=10)
    assert msg is not None and "weights_url" not in msg["data"]
    np.testing.assert_array_equal(msg["data"]["weights"][0], np.ones(3))
    client.close()
    assert server.wait(10)


def test_sedna_run_fl_example_with_the_s3_transmitter(tmp_path: Path, s3: S3Server) -> None:
    """The FL example, unchanged scripts, with ``transmitter: {s3: {aggDataPath, credentialName}}``
    and Sedna's credential Secret: the job succeeds and its weights went through the bucket."""
    import yaml

    from tests.runtime.examples_support import copy_example, run_example, worker_logs

    example = copy_example("federated_learning", tmp_path)
    manifest = example / "federated-learning.yaml"
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    for doc in docs:
        if doc["kind"] == "FederatedLearningJob":
            doc["spec"]["transmitter"] = {
                "s3": {"aggDataPath": f"s3://{s3.bucket}/fl-run", "credentialName": "s3-credential"}
            }
            job = doc["metadata"]["name"]
    docs.insert(0, s3.secret_manifest())
    manifest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    state = tmp_path / "state"
    done, _ = run_example(example, state, timeout=150)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{worker_logs(state)}"
    keys = s3.keys(f"fl-run/{job}/")
    for r in (1, 2, 3):
        assert f"fl-run/{job}/round-{r}/global.npz" in keys, keys
        assert sum(k.startswith(f"fl-run/{job}/round-{r}/train-") for k in keys) == 3, keys
    logs = worker_logs(state)
    assert "update_rejected" not in logs and "refused" not in logs
    for key in (s3.access_key, s3.secret_key):
        assert key not in logs
