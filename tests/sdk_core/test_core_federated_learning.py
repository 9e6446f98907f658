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
    # Sedna's keyword spelling, ping_interval included
    client = AggregationClient(f"ws://127.0.0.1:{port}/FedAvg", client_id="late", ping_timeout=10, ping_interval=5)
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


# ---------------------------------------------------------------------------------------------
# In-process trainers (threads): each FederatedLearning is built in the main thread, where the
# environment says who it is, then trains in its own thread against a real AggregationServer.
# ---------------------------------------------------------------------------------------------
TEST_SLICE = slice(1500, None)


def _digits_split(n_shards: int, per_shard: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple]:
    x, y = load_digits_xy()
    shards = [(x[i * per_shard:(i + 1) * per_shard], y[i * per_shard:(i + 1) * per_shard]) for i in range(n_shards)]
    return shards, (x[TEST_SLICE], y[TEST_SLICE])


class _Poisoned:
    """A Byzantine trainer: trains honestly, then sends its weights scaled by -10."""

    def __init__(self, epochs: int = 20, seed: int = 0) -> None:
        from tests.sdk_core.sdk_models import SoftmaxEstimator

        self.inner = SoftmaxEstimator(epochs=epochs, seed=seed)

    def train(self, train_data, valid_data=None, **kwargs):
        return self.inner.train(train_data)

    def get_weights(self):
        return [-10.0 * w for w in self.inner.get_weights()]

    def set_weights(self, weights):
        self.inner.set_weights(weights)

    def evaluate(self, data, **kwargs):
        return self.inner.evaluate(data)


class _XY:
    """A BaseDataSource-like (x, y) holder for the softmax estimator, which reads ``.x``/``.y``."""

    def __init__(self, x, y) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)


def _make_trainers(monkeypatch, port: int, estimators: list, aggregation: str = "FedAvg",
                   datasets: list[str] | None = None) -> list:
    from sedna.core.federated_learning import FederatedLearning

    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(port))
    monkeypatch.setenv("CONNECT_TIMEOUT", "20")
    monkeypatch.setenv("JOB_NAME", "fl-demo")
    trainers = []
    for i, est in enumerate(estimators):
        monkeypatch.setenv("WORKER_NAME", f"trainworker-{i}")
        if datasets:
            monkeypatch.setenv("DATASET_NAME", datasets[i])
        trainers.append(FederatedLearning(estimator=est, aggregation=aggregation))
    return trainers


def _train_all(trainers: list, data: list, valid=None, timeout: float = 60) -> list:
    results: list = [None] * len(trainers)
    errors: list = []

    def run(i: int) -> None:
        try:
            results[i] = trainers[i].train(train_data=data[i], valid_data=valid)
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(trainers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not errors, errors
    assert all(r is not None for r in results)
    return results


def _trainer_reports(lc) -> list[dict]:
    """The trainers' reports (the in-process aggregator reports under the last WORKER_NAME set,
    so it is told apart by its extra ``participants`` field)."""
    return [r for r in lc.of_kind("train") if "participants" not in r["ownerInfo"]]


def _global_accuracy(server: AggregationServer, test: tuple) -> float:
    from tests.sdk_core.sdk_models import SoftmaxEstimator

    est = SoftmaxEstimator()
    est.set_weights(server.rounds[-1].weights)
    return est.evaluate(_XY(*test))["accuracy"]


def _poisoned_run(monkeypatch, aggregation, client_route: str = "MultiKrum") -> tuple[AggregationServer, float]:
    from tests.sdk_core.sdk_models import SoftmaxEstimator

    shards, test = _digits_split(5, 300)
    port = free_port()
    server = AggregationServer(aggregation, host="127.0.0.1", http_port=port, exit_round=3, participants_count=5)
    server.start_background()
    estimators = [SoftmaxEstimator(epochs=20, seed=i) for i in range(4)] + [_Poisoned(seed=4)]
    trainers = _make_trainers(monkeypatch, port, estimators, aggregation=client_route)
    _train_all(trainers, [_XY(*s) for s in shards])
    assert server.wait(10)
    return server, _global_accuracy(server, test)


def test_multikrum_without_f_is_poisoned(monkeypatch, fake_lc):
    """The baseline the issue measured: f=0 keeps every update, the x-10 one included."""
    server, acc = _poisoned_run(monkeypatch, "MultiKrum")
    assert server.aggregation.num_malicious == 0
    print(f"MultiKrum f=0 with one x-10 client of 5: accuracy {acc:.3f}")
    assert acc < 0.5


def test_multikrum_parameters_from_the_job_env_keep_accuracy(monkeypatch, fake_lc):
    """AGG_NAME/AGG_PARAMETERS (strings, Sedna's key/value list) reach the strategy, cast to int;
    trainers written for /FedAvg are served by the MultiKrum aggregator all the same."""
    monkeypatch.setenv("AGG_NAME", "MultiKrum")
    monkeypatch.setenv("AGG_PARAMETERS", '[{"key": "num_malicious", "value": "1"}]')
    server, acc = _poisoned_run(monkeypatch, None, client_route="FedAvg")
    assert server.aggregation_name == "MultiKrum" and server.aggregation.num_malicious == 1
    print(f"MultiKrum f=1 (AGG_PARAMETERS) with one x-10 client of 5: accuracy {acc:.3f}")
    assert acc > 0.85
    kept = [server.rounds[-1].clients[i] for i in server.aggregation.selected]
    assert len(kept) == 4 and "trainworker-4" not in kept  # the x-10 trainer was dropped


def test_multikrum_parameters_as_a_method_param_dict(monkeypatch, fake_lc):
    server, acc = _poisoned_run(monkeypatch, {"method": "MultiKrum", "param": '{"num_malicious": 1}'})
    assert server.aggregation.num_malicious == 1
    assert acc > 0.85


def test_tuple_data_counts_its_samples_and_fedavg_weighs_by_them(monkeypatch, fake_lc):
    """Sedna sends len(train_data): 2 for an (x, y) pair, so FedAvg weighed 100 and 400
    samples the same and the job reported sampleCount 4."""
    from tests.sdk_core.sdk_models import SoftmaxEstimator

    x, y = load_digits_xy()
    data = [(x[:100], y[:100]), (x[100:500], y[100:500])]
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=1, participants_count=2)
    server.start_background()

    class Recording(SoftmaxEstimator):
        def train(self, train_data, valid_data=None, **kwargs):
            return super().train(_XY(*train_data), **kwargs)

        def get_weights(self):
            self.sent = super().get_weights()
            return self.sent

    estimators = [Recording(epochs=5, seed=0), Recording(epochs=5, seed=1)]
    trainers = _make_trainers(monkeypatch, port, estimators)
    _train_all(trainers, data)
    assert server.wait(10)
    assert server.rounds[0].total_sample == 500
    expected = _fedavg([(100, estimators[0].sent), (400, estimators[1].sent)])
    for got, want in zip(server.rounds[0].weights, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    counts = {r["ownerInfo"]["sampleCount"] for r in _trainer_reports(fake_lc)}
    assert counts == {500}


def test_per_trainer_model_files_and_the_aggregated_model_at_model_url(tmp_path, monkeypatch, fake_lc):
    """Trainers sharing MODEL_URL each keep their own file; MODEL_URL gets the aggregated model
    after the last round; every round reports the aggregated model's test accuracy."""
    from tests.sdk_core.sdk_models import SoftmaxEstimator

    shards, test = _digits_split(3, 300)
    model_url = tmp_path / "model" / "digits.pkl"
    monkeypatch.setenv("MODEL_URL", str(model_url))
    monkeypatch.setenv("DATA_PATH_PREFIX", "")
    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=2, participants_count=3)
    server.start_background()
    names = ["edge-a", "edge-b", "edge-c"]
    trainers = _make_trainers(
        monkeypatch, port, [SoftmaxEstimator(epochs=40, seed=i) for i in range(3)], datasets=names
    )
    _train_all(trainers, [_XY(*s) for s in shards], valid=_XY(*test))
    assert server.wait(10)
    own = {n: tmp_path / "model" / f"digits.{n}.pkl" for n in names}
    assert all(p.is_file() for p in own.values())
    final = SoftmaxEstimator()
    final.load(str(model_url))
    np.testing.assert_array_equal(final.W, server.rounds[-1].weights[0])
    by_worker: dict[str, list[dict]] = {}
    for r in _trainer_reports(fake_lc):
        by_worker.setdefault(r["name"], []).append(r)
    expected_acc = _global_accuracy(server, test)
    for i, reports in enumerate(sorted(by_worker.values(), key=lambda rs: rs[0]["name"])):
        assert [r["results"][0]["url"] for r in reports] == [str(own[names[i]]), str(model_url)]
        assert all(set(r["results"][0]["metrics"]) == {"accuracy"} for r in reports)
        assert reports[-1]["results"][0]["metrics"]["accuracy"] == pytest.approx(expected_acc)
    assert expected_acc > 0.85


def test_v03_register_after_the_constructor_keeps_one_subscription(monkeypatch, fake_lc):
    """Sedna 0.3 scripts call register() themselves; the constructor already connected."""
    from tests.sdk_core.sdk_models import SoftmaxEstimator

    x, y = load_digits_xy()
    port = free_port()
    monkeypatch.setenv("PARTICIPANTS_COUNT", "1")
    server = AggregationServer(servername="FedAvg", host="127.0.0.1", http_port=port, exit_round=1)
    server.start_background()
    assert server.participants_count == 1 and server.aggregation_name == "FedAvg"
    (fl,) = _make_trainers(monkeypatch, port, [SoftmaxEstimator(epochs=3)])
    node = fl.node
    fl.register()
    assert fl.node is node
    info = httpx.get(f"http://127.0.0.1:{port}/FedAvg").json()
    assert [c["client_id"] for c in info["clients"]] == ["trainworker-0"]
    one = httpx.request("GET", f"http://127.0.0.1:{port}/FedAvg", json={"client_id": "trainworker-0"}).json()
    assert one == {"client_id": "trainworker-0", "encoding": "json", "connected": True}
    _train_all([fl], [_XY(x[:200], y[:200])])
    assert server.wait(10) and len(server.rounds) == 1


def test_participants_default_to_the_controller_env(monkeypatch):
    """Sedna 0.3's constructor has no participants_count: the round must still wait for every
    trainer the controller started (PARTICIPANTS_COUNT), not close on the first update."""
    monkeypatch.setenv("PARTICIPANTS_COUNT", "3")
    monkeypatch.setenv("AGG_BIND_PORT", "17399")
    server = AggregationServer("FedAvg", http_port=7363, exit_round=2)
    assert server.participants_count == 3
    # Sedna's examples spell out http_port=7363; the Service's AGG_BIND_PORT wins over that default
    assert server.http_port == 17399
    assert AggregationServer("FedAvg", http_port=8000).http_port == 8000


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ((np.zeros((7, 3)), np.zeros(7)), 7),
        ([np.zeros((5, 2)), np.zeros(5)], 5),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, 4),
        (np.zeros((9, 4)), 9),
        ([[1, 2, 3], [4, 5, 6], [7, 8, 9]], 3),
        ([("a.png", 0), ("b.png", 1), ("c.png", 1)], 3),
        (None, 0),
    ],
)
def test_count_samples_shapes(data, expected):
    from sedna.core.federated_learning import count_samples

    assert count_samples(data) == expected


def test_count_samples_datasources_frames_and_torch():
    import pandas as pd

    from sedna.core.federated_learning import count_samples
    from sedna.datasources import BaseDataSource

    ds = BaseDataSource(data_type="train")
    ds.x, ds.y = np.zeros((11, 2)), np.zeros(11)
    assert count_samples(ds) == 11
    assert count_samples(pd.DataFrame({"a": range(6), "b": range(6)})) == 6
    assert count_samples((pd.DataFrame({"a": range(8)}), pd.Series(range(8)))) == 8
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, SubsetRandomSampler, TensorDataset

    dataset = TensorDataset(torch.zeros(13, 2), torch.zeros(13))
    assert count_samples(dataset) == 13
    assert count_samples(DataLoader(dataset, batch_size=4)) == 13  # len(loader) is 4 batches
    assert count_samples(DataLoader(dataset, batch_size=4, sampler=SubsetRandomSampler(range(5)))) == 5


# ---------------------------------------------------------------------------------------------
# FederatedLearningV2 / AggregationServerV2 (Sedna 0.4+), without Plato
# ---------------------------------------------------------------------------------------------
class KerasLike:
    """A Keras-style model (fit/predict/get_weights/set_weights) over a numpy softmax regression."""

    def __init__(self, seed: int = 0) -> None:
        from tests.sdk_core.sdk_models import SoftmaxEstimator

        self.net = SoftmaxEstimator(seed=seed, lr=0.5)
        self.fits: list[dict] = []

    def fit(self, x, y, epochs=1, batch_size=32, verbose="auto"):
        self.fits.append({"epochs": epochs, "batch_size": batch_size, "n": len(x)})
        return self.net.train(_XY(x, np.asarray(y).argmax(1)), epochs=epochs)

    def predict(self, x):
        return self.net.predict_proba(x)

    def get_weights(self):
        return self.net.get_weights()

    def set_weights(self, weights):
        self.net.set_weights(weights)


class V2Data:
    """Sedna's customized V2 data: one-hot labels, as the Keras example has them."""

    def __init__(self, train, test) -> None:
        self.customized = True
        self.trainset = (train[0], np.eye(10)[train[1]])
        self.testset = (test[0], np.eye(10)[test[1]])


class V2Estimator:
    def __init__(self, model, rounds: int = 2) -> None:
        self.model = model
        self.pretrained = None
        self.saved = None
        self.hyperparameters = {"rounds": rounds, "epochs": 60, "batch_size": 32, "optimizer": "SGD",
                                "learning_rate": 0.5}


def _start_v2_trainers(monkeypatch, server: AggregationServer, clients: list) -> list[threading.Thread]:
    """Start each V2 trainer in a thread once the previous one subscribed (they read their
    identity from the process environment when they connect)."""
    threads = []
    for i, client in enumerate(clients):
        monkeypatch.setenv("WORKER_NAME", f"trainworker-{i}")
        thread = threading.Thread(target=client.train, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while len(server.clients) <= i:
            assert time.monotonic() < deadline, "the trainer never subscribed"
            time.sleep(0.01)
        threads.append(thread)
    return threads


def test_v2_fedavg_trains_without_plato(tmp_path, monkeypatch, fake_lc):
    from sedna.algorithms.aggregation import FedAvgV2
    from sedna.algorithms.client_choose import SimpleClientChoose
    from sedna.core.federated_learning import FederatedLearningV2
    from sedna.service.server import AggregationServerV2

    shards, test = _digits_split(2, 400)
    port = free_port()
    for key, value in {"AGG_BIND_IP": "127.0.0.1", "AGG_BIND_PORT": str(port), "AGG_IP": "127.0.0.1",
                       "AGG_PORT": str(port), "PARTICIPANTS_COUNT": "2", "JOB_NAME": "fl-v2",
                       "MODEL_URL": str(tmp_path / "v2.pkl")}.items():
        monkeypatch.setenv(key, value)
    server_v2 = AggregationServerV2(estimator=V2Estimator(None, rounds=2), aggregation=FedAvgV2(),
                                    transmitter=FederatedLearningV2.get_transmitter_from_config(),
                                    chooser=SimpleClientChoose(per_round=2))
    server = server_v2.server
    assert server is not None and server.exit_round == 2 and server.participants_count == 2
    server.start_background()
    models = [KerasLike(seed=i) for i in range(2)]
    clients = [FederatedLearningV2(data=V2Data(shards[i], test), estimator=V2Estimator(models[i]),
                                   aggregation=FedAvgV2(), transmitter=FederatedLearningV2.get_transmitter_from_config())
               for i in range(2)]
    for t in _start_v2_trainers(monkeypatch, server, clients):
        t.join(60)
    assert server.wait(10)
    assert [r.total_sample for r in server.rounds] == [800, 800]
    assert models[0].fits[0] == {"epochs": 60, "batch_size": 32, "n": 400}  # hyperparameters reached fit
    np.testing.assert_array_equal(models[0].get_weights()[0], server.rounds[-1].weights[0])
    final = _global_accuracy(server, test)
    print(f"FederatedLearningV2 (FedAvgV2, no Plato): accuracy {final:.3f}")
    assert final > 0.8  # chance is 0.1; this held-out slice of digits tops out near 0.9
    last = _trainer_reports(fake_lc)[-1]
    assert last["status"] == "completed" and last["results"][0]["url"] == str(tmp_path / "v2.pkl")
    assert last["results"][0]["metrics"]["accuracy"] == pytest.approx(final)


def test_v2_torch_module_is_trained_with_plato_hyperparameters(monkeypatch, fake_lc):
    torch = pytest.importorskip("torch")
    from sedna.core.federated_learning import FederatedLearningV2

    torch.manual_seed(0)
    shards, test = _digits_split(1, 600)
    port = free_port()
    monkeypatch.setenv("AGG_IP", "127.0.0.1")
    monkeypatch.setenv("AGG_PORT", str(port))
    server = AggregationServer("FedAvgV2", host="127.0.0.1", http_port=port, exit_round=2, participants_count=1)
    server.start_background()
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    est = V2Estimator(model)
    est.hyperparameters.update(epochs=5, learning_rate=0.1, momentum=0.9)
    data = type("D", (), {"customized": True, "trainset": shards[0], "testset": test})()
    client = FederatedLearningV2(data=data, estimator=est)
    for t in _start_v2_trainers(monkeypatch, server, [client]):
        t.join(60)
    assert server.wait(10)
    assert [r.total_sample for r in server.rounds] == [600, 600]
    metrics = _trainer_reports(fake_lc)[-1]
    assert metrics["status"] == "completed"
    with torch.no_grad():
        acc = float((model(torch.as_tensor(test[0], dtype=torch.float32)).argmax(1).numpy() == test[1]).mean())
    print(f"FederatedLearningV2 (torch, no Plato): accuracy {acc:.3f}")
    assert acc > 0.85


def test_mistnet_needs_plato_and_says_so(monkeypatch):
    from sedna.algorithms.aggregation import MistNet, PlatoRequiredError
    from sedna.core.federated_learning import FederatedLearningV2
    from sedna.service.server import AggregationServerV2

    monkeypatch.setitem(__import__("sys").modules, "plato", None)  # hide any installed copy
    monkeypatch.setattr("sedna.core.federated_learning.plato.plato_available", lambda: False)
    data = type("D", (), {"customized": True, "trainset": ([0], [0]), "testset": None})()
    est = V2Estimator(KerasLike())
    with pytest.raises(PlatoRequiredError, match=r"`plato`.*pip install plato-learn"):
        FederatedLearningV2(data=data, estimator=est, aggregation=MistNet(cut_layer="4", epsilon="100"))
    with pytest.raises(PlatoRequiredError, match="MistNet|mistnet"):
        AggregationServerV2(estimator=est, aggregation=MistNet(4))
    # a Plato datasource (data.parameters only) is Plato's too
    plato_data = type("P", (), {"parameters": {"datasource": "YOLO"}})()
    with pytest.raises(PlatoRequiredError, match="datasource"):
        FederatedLearningV2(data=plato_data, estimator=est)


def _fake_plato(monkeypatch) -> dict:
    """A stand-in ``plato`` package recording what the V2 classes configure."""
    import collections
    import importlib.machinery
    import sys
    import types

    calls: dict = {}

    class Config:
        _state: dict = {}

        def __init__(self) -> None:
            self.__dict__ = Config._state
            if not Config._state:
                for section in ("server", "clients", "data", "trainer", "algorithm"):
                    setattr(self, section, self.namedtuple_from_dict({}))
                self.params = {}

        @staticmethod
        def namedtuple_from_dict(values: dict):
            return collections.namedtuple("Section", list(values))(**values)

    def module(name: str, **attrs):
        mod = types.ModuleType(name)
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
        mod.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, mod)
        return mod

    class Client:
        def configure(self) -> None:
            calls["configured"] = True

        async def start_client(self) -> None:
            calls["started"] = True

    class Server:
        def run(self) -> None:
            calls["served"] = True

    def client_get(**kwargs):
        calls["client"] = kwargs
        return Client()

    def server_get(**kwargs):
        calls["server"] = kwargs
        return Server()

    module("plato")
    module("plato.config", Config=Config)
    module("plato.clients")
    module("plato.clients.registry", get=client_get)
    module("plato.servers")
    module("plato.servers.registry", get=server_get)
    module("plato.datasources")
    module("plato.datasources.base", DataSource=type("DataSource", (), {}))
    calls["config"] = Config
    return calls


def test_mistnet_is_handed_to_plato_when_installed(monkeypatch):
    from sedna.algorithms.aggregation import MistNet
    from sedna.algorithms.client_choose import SimpleClientChoose
    from sedna.algorithms.transmitter import S3Transmitter
    from sedna.core.federated_learning import FederatedLearningV2
    from sedna.service.server import AggregationServerV2

    calls = _fake_plato(monkeypatch)
    monkeypatch.setenv("AGG_IP", "10.0.0.5")
    monkeypatch.setenv("AGG_PORT", "7363")
    est = V2Estimator(KerasLike())
    s3 = S3Transmitter("http://minio:9000", "ak", "sk", "s3://bucket/agg")
    data = type("D", (), {"customized": True, "trainset": "train", "testset": "test",
                          "parameters": {"num_classes": 80}})()
    client = FederatedLearningV2(data=data, estimator=est, aggregation=MistNet("4", "100"), transmitter=s3)
    client.run()
    config = calls["config"]()
    assert calls["configured"] and calls["started"] and calls["client"]["model"] is est.model
    assert calls["client"]["datasource"].trainset == "train"
    assert config.clients.type == "mistnet" and config.server.type == "mistnet"
    assert config.server.address == "10.0.0.5" and config.server.s3_bucket == "s3://bucket/agg"
    assert config.algorithm._asdict() == {"type": "mistnet", "cut_layer": 4, "epsilon": 100}
    assert config.trainer.epochs == 60 and config.data.num_classes == 80
    est.saved = "/model"
    AggregationServerV2(data=data, estimator=est, aggregation=MistNet(4), chooser=SimpleClientChoose(per_round=2)).start()
    config = calls["config"]()
    assert calls["served"] and calls["server"]["model"] is est.model
    assert config.clients.per_round == 2 and config.params["model_dir"] == "/model"


def test_the_aggregator_refuses_updates_it_cannot_trust(fake_lc):
    """Issue 12 item 5: NaN weights, wrong shapes, an absurd num_samples and a connection
    posing as another client are refused (the client is told why) and never aggregated."""
    from sedna.service.server.aggregation import update_problem

    port = free_port()
    server = AggregationServer("FedAvg", host="127.0.0.1", http_port=port, exit_round=1, participants_count=2)
    server.start_background()
    try:
        url = f"ws://127.0.0.1:{port}/FedAvg"
        a = AggregationClient(url=url, client_id="a", ping_timeout=30)
        b = AggregationClient(url=url, client_id="b", ping_timeout=30)
        a.send({"num_samples": 10, "weights": [np.ones((2, 3)), np.zeros(3)]}, msg_type="update_weight")
        bad = [
            ({"num_samples": 10, "weights": [np.full((2, 3), np.nan), np.zeros(3)]}, "NaN or infinite"),
            ({"num_samples": 10, "weights": [np.ones((3, 2)), np.zeros(3)]}, "differ from the model's"),
            ({"num_samples": 10**12, "weights": [np.ones((2, 3)), np.zeros(3)]}, "outside [0, 1000000000]"),
        ]
        for update, reason in bad:
            b.send(update, msg_type="update_weight")
            refused = b.recv(wait_data_type="update_rejected", timeout=10)
            assert refused is not None and reason in refused["data"]["reason"]
        b.client_id = "a"  # the same connection now claims to be client a
        b.send({"num_samples": 10, "weights": [np.ones((2, 3)), np.zeros(3)]}, msg_type="update_weight")
        refused = b.recv(wait_data_type="update_rejected", timeout=10)
        assert refused is not None and "this connection is client 'b'" in refused["data"]["reason"]
        b.client_id = "b"
        b.send({"num_samples": 30, "weights": [np.full((2, 3), 5.0), np.ones(3)]}, msg_type="update_weight")
        result = a.recv(wait_data_type="recv_weight", timeout=10)
        assert result is not None
        np.testing.assert_allclose(result["data"]["weights"][0], np.full((2, 3), (10 * 1 + 30 * 5) / 40))
        assert result["data"]["total_sample"] == 40
        assert [cid for cid, _ in server.rejected] == ["b", "b", "b", "b"]
        a.close()
        b.close()
    finally:
        server.stop()
    assert update_problem("7", [np.zeros(2)], None, 100) is None  # a digit string is a count
    assert "not an integer" in update_problem(2.5, [np.zeros(2)], None, 100)
    assert "no weights" in update_problem(1, [], None, 100)
