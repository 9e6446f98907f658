"""Lifelong learning with the model market as its knowledge base (in-process and over REST),
and Sedna's KBClient against the market service's ``/knowledgebase`` endpoints."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn

from sedna.algorithms.knowledge_management import LocalKnowledgeBase, MarketKnowledgeBase
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import BaseConfig
from sedna.core.lifelong_learning import LifelongLearning
from sedna.service.client import KBClient, LCClient
from sedna_market.client import MarketClient
from sedna_market.service import create_app
from sedna_market.settings import MarketSettings

DIM = 6
#: task label of each training distribution; the global model answers their mean (37)
TASK_VALUES = {"a": 1.0, "b": 10.0, "c": 100.0}
GLOBAL_VALUE = float(np.mean(list(TASK_VALUES.values())))
MEANS = {"a": np.full(DIM, -5.0), "b": np.zeros(DIM), "c": np.r_[np.full(3, 5.0), np.full(3, -5.0)]}
UNSEEN_MEAN = np.r_[np.full(3, -5.0), np.full(3, 6.0)]
ATTR = {"method": "TaskDefinitionByDataAttr", "param": {"attribute": ["task"]}}
ENV_KEYS = ("JOB_NAME", "NAMESPACE", "WORKER_NAME", "LC_SERVER", "OUTPUT_URL", "MODEL_URLS", "KB_SERVER",
            "KB_BACKEND", "UTD_NAME", "HAS_COMPLETED_INITIAL_TRAINING", "MIN_TRAIN_SAMPLE", "PARAMETERS",
            "MARKET_API_TOKEN")
#: the market's write token: workers send it from MARKET_API_TOKEN
TOKEN = "ll-integration-token-0123456789"


class MeanEstimator:
    """Sedna-style estimator predicting the mean label of its training samples."""

    def __init__(self) -> None:
        self.value = 0.0

    def train(self, train_data: Any, valid_data: Any = None, **kwargs: Any) -> dict[str, float]:
        self.value = float(np.mean(np.asarray(train_data.y, dtype=float)))
        return {"value": self.value}

    def predict(self, data: Any, **kwargs: Any) -> np.ndarray:
        return np.full(len(getattr(data, "x", data)), self.value)

    def evaluate(self, data: Any, **kwargs: Any) -> dict[str, float]:
        return {"acc": float(np.mean(self.predict(data) == np.asarray(data.y)))}

    def save(self, model_path: str | None = None, **kwargs: Any) -> str:
        path = model_path or "model.pkl"
        with open(path, "wb") as fh:
            pickle.dump(self.value, fh)
        return path

    def load(self, model_url: str | None = None, **kwargs: Any) -> None:
        with open(str(model_url), "rb") as fh:
            self.value = float(pickle.load(fh))


class Shard:
    """Data source with ``x`` / ``y``."""

    def __init__(self, x: Any, y: Any = None) -> None:
        self.x, self.y = x, y

    def num_examples(self) -> int:
        return len(self.x)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def fake_lc() -> Iterator[str]:
    """An LC that accepts every report."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_lc: str) -> Iterator[Path]:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "out"
    monkeypatch.setenv("JOB_NAME", "ll-market")
    monkeypatch.setenv("NAMESPACE", "default")
    monkeypatch.setenv("WORKER_NAME", "ll-market-train")
    monkeypatch.setenv("LC_SERVER", fake_lc)
    monkeypatch.setenv("OUTPUT_URL", str(out))
    monkeypatch.setenv("KB_BACKEND", "market")
    BaseConfig.reset()
    LCClient._shared.clear()
    yield out
    BaseConfig.reset()
    for client in LCClient._shared.values():
        client.close()
    LCClient._shared.clear()


@pytest.fixture
def market_server(tmp_path: Path) -> Iterator[str]:
    """A real market REST service on 127.0.0.1 (stops with the test); writes need ``TOKEN``."""
    settings = MarketSettings(db_url=f"sqlite:///{tmp_path / 'kb.db'}", storage_dir=tmp_path / "kb",
                              api_token=TOKEN, run_stat_check=False)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def _frame(rng: np.random.Generator, mean: np.ndarray, n: int, task: str | None) -> pd.DataFrame:
    df = pd.DataFrame(rng.normal(mean, 1.0, size=(n, DIM)), columns=[f"f{i}" for i in range(DIM)])
    if task is not None:
        df["task"] = task
    return df


def _train_data(rng: np.random.Generator) -> Shard:
    frames = [_frame(rng, MEANS[t], 300, t) for t in TASK_VALUES]
    y = np.concatenate([np.full(300, v) for v in TASK_VALUES.values()])
    return Shard(pd.concat(frames, ignore_index=True), y)


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    return 2 * tp / float(np.sum(pred) + np.sum(truth))


def _train_and_infer(out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    trainer = LifelongLearning(estimator=MeanEstimator(), task_definition=ATTR)
    assert isinstance(trainer.kb, MarketKnowledgeBase)
    trainer.train(_train_data(rng))
    index = LocalKnowledgeBase(out).load_index()
    section = index["market"]
    assert set(section["tasks"]) == set(TASK_VALUES)
    assert all(t["threshold"] > 0 for t in section["tasks"].values())

    # a fresh worker (as the inference pod) reads the index and asks the market
    monkeypatch.setenv("WORKER_NAME", "ll-market-infer")
    monkeypatch.setenv("MODEL_URLS", str(out / "index.pkl"))
    BaseConfig.reset()
    infer = LifelongLearning(estimator=MeanEstimator(), task_definition=ATTR)
    assert infer.methods["task_allocation"]["method"] == "TaskAllocationByMarket"
    assert infer.methods["unseen_sample_recognition"]["method"] == "SampleRegonitionByMarket"
    seen = pd.concat([_frame(rng, MEANS[t], 100, None) for t in TASK_VALUES], ignore_index=True)
    truth = np.repeat(list(TASK_VALUES.values()), 100)
    unseen = _frame(rng, UNSEEN_MEAN, 300, None)
    result, is_unseen, tasks = infer.inference(Shard(pd.concat([seen, unseen], ignore_index=True)))
    result = np.asarray(result, dtype=float)
    assert is_unseen and len(result) == 600
    # every sample the recogniser keeps goes to a task model: a global answer marks an unseen one
    flagged = result == GLOBAL_VALUE
    assert f1(flagged, np.r_[np.zeros(300, bool), np.ones(300, bool)]) >= 0.9
    kept = ~flagged[:300]
    assert np.mean(result[:300][kept] == truth[kept]) >= 0.95
    assert np.mean(result[:300] == truth) >= 0.95
    assert {t.entry for t in tasks} <= set(TASK_VALUES) | {"unseen"}
    return section


def test_lifelong_learning_with_in_process_market(job_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = _train_and_infer(job_env, monkeypatch)
    assert section["mode"] == "inprocess" and section["server"] is None
    # the task models are in the job's market, with their specs and the models themselves
    kb = MarketKnowledgeBase(job_env)
    tm = kb.task_market()
    assert set(tm.task_ids) == {t["id"] for t in section["tasks"].values()}
    first = section["tasks"]["c"]["id"]
    assert np.allclose(tm.model(first).predict(np.zeros((2, DIM))), 100.0)


def test_lifelong_learning_through_market_service(job_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                  market_server: str) -> None:
    monkeypatch.setenv("KB_SERVER", market_server)
    monkeypatch.setenv("MARKET_API_TOKEN", TOKEN)  # both the market client and KBClient send it
    section = _train_and_infer(job_env, monkeypatch)
    assert section["mode"] == "rest" and section["server"] == market_server
    with MarketClient(market_server) as client:
        stored = {info.id: info for info in client.list()}
        ids = {t["id"] for t in section["tasks"].values()}
        assert ids <= set(stored)
        assert {stored[i].feature_shape[0] for i in ids} == {DIM}
        # the market's own statistical search finds task 'b' for a batch of b-like samples
        from sedna_market import generate_rkme_table_spec

        batch = np.random.default_rng(9).normal(MEANS["b"], 1.0, size=(200, DIM))
        res = client.search(stat_spec=generate_rkme_table_spec(batch, gamma=section["gamma"], reduced_set_size=20))
        assert res.single[0].id == section["tasks"]["b"]["id"]
    # a worker that did not upload the tasks reads their unseen profiles from the packages
    from sedna.algorithms.knowledge_management import market_kb

    with market_kb._CACHE_LOCK:
        market_kb._REMOTE.clear()
        market_kb._GROUPS.clear()
    entries, profiles = market_kb._task_profiles(section)
    assert {k[1] for k in market_kb._REMOTE if k[0] == market_server} == ids
    assert all(market_kb._REMOTE[(market_server, i)][1] is not None for i in ids)
    assert {e: p.threshold for e, p in zip(entries, profiles, strict=True)} == {
        e: t["threshold"] for e, t in section["tasks"].items()}
    # the trainer also uploaded its index through Sedna's /knowledgebase/update
    kb = KBClient(market_server)
    got = kb.download_file("/file/download?files=index.pkl&name=index.pkl", str(job_env / "dl" / "index.pkl"))
    assert Path(got).read_bytes() == (job_env / "index.pkl").read_bytes()


def test_retrain_replaces_task_models(job_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    LifelongLearning(estimator=MeanEstimator(), task_definition=ATTR).train(_train_data(rng))
    first = LocalKnowledgeBase(job_env).load_index()["market"]
    monkeypatch.setenv("HAS_COMPLETED_INITIAL_TRAINING", "true")
    BaseConfig.reset()
    frames = _frame(rng, MEANS["b"], 200, "b")
    LifelongLearning(estimator=MeanEstimator(), task_definition=ATTR).train(Shard(frames, np.full(200, 10.0)))
    second = LocalKnowledgeBase(job_env).load_index()["market"]
    # a round with samples of task b only retrains b and keeps the other tasks' models
    assert set(second["tasks"]) == {"a", "b", "c"} and second["gamma"] == first["gamma"]
    assert second["tasks"]["a"]["id"] == first["tasks"]["a"]["id"]
    tm = MarketKnowledgeBase(job_env).task_market()
    assert second["tasks"]["b"]["id"] in tm.task_ids and first["tasks"]["b"]["id"] not in tm.task_ids


def test_kbclient_against_market_service(tmp_path: Path, market_server: str) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:  # writes need the market's token
        KBClient(market_server, token="").update_task_status("a", 1)
    assert refused.value.response.status_code == 401
    kb = KBClient(market_server, token=TOKEN)
    index = tmp_path / "task_index.pkl"
    index.write_bytes(pickle.dumps({"task_groups": [], "created_at": 1.0}))
    url = kb.update_db(str(index))
    assert url == f"{market_server}/knowledgebase/file/download?files=index.pkl&name=index.pkl"
    assert kb.update_task_status("a,b", 1) == url
    assert kb.update_task_status("b", 0) == url
    got = kb.download_file(url, str(tmp_path / "dl" / "index.pkl"))
    assert Path(got).read_bytes() == index.read_bytes()
    model = tmp_path / "m.bin"
    model.write_bytes(b"weights")
    up = kb.upload_file(str(model))
    assert up.endswith("/file/download?files=m.bin&name=m.bin")
    assert Path(kb.download_file(up, str(tmp_path / "dl" / "m.bin"))).read_bytes() == b"weights"


def test_aliases_and_default_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert ClassFactory.is_exists(ClassType.KM, "MarketKnowledgeBase")
    for alias in ("SampleRegonitionByMarket", "SampleRecognitionByMarket", "SampleRegonitionByDistance",
                  "SampleRegonitionDefault"):
        assert ClassFactory.is_exists(ClassType.UTD, alias), alias
    assert ClassFactory.is_exists(ClassType.STP, "TaskAllocationByMarket")
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path))
    BaseConfig.reset()
    ll = LifelongLearning(estimator=MeanEstimator(), task_definition=ATTR)
    assert type(ll.kb) is LocalKnowledgeBase
    assert ll.methods["unseen_sample_recognition"]["method"] == "SampleRegonitionByDistance"
    monkeypatch.setenv("KB_BACKEND", "market")
    monkeypatch.setenv("UTD_NAME", "SampleRegonitionDefault")
    ll = LifelongLearning(estimator=MeanEstimator(), task_definition=ATTR)
    assert isinstance(ll.kb, MarketKnowledgeBase)
    assert ll.methods["unseen_sample_recognition"]["method"] == "SampleRegonitionDefault"
    assert ll.methods["task_allocation"]["method"] == "TaskAllocationByMarket"
    BaseConfig.reset()


def test_sdk_works_without_the_market_package(tmp_path: Path) -> None:
    """A worker without the market extra imports the SDK, trains with the local index and gets a
    clear error only when it asks for the market backend."""
    code = """
import sys
sys.modules['sedna_market'] = None  # as if the market extra were not installed
from sedna.core.lifelong_learning import LifelongLearning
from sedna.algorithms.knowledge_management import LocalKnowledgeBase, MarketKnowledgeBase, market_available
from sedna.common.class_factory import ClassFactory, ClassType
assert not market_available()
assert ClassFactory.is_exists(ClassType.KM, 'MarketKnowledgeBase')
class E:
    def train(self, train_data, valid_data=None, **kw): return {}
    def predict(self, x, **kw): return [0] * len(x)
    def save(self, model_path=None, **kw): open(model_path, 'wb').write(b'0'); return model_path
    def load(self, model_url=None, **kw): pass
assert type(LifelongLearning(estimator=E()).kb) is LocalKnowledgeBase
try:
    MarketKnowledgeBase('.')
except RuntimeError as err:
    assert 'market' in str(err)
else:
    raise SystemExit('no error')
print('ok')
"""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env["OUTPUT_URL"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")
    assert json.dumps(proc.returncode) == "0"


@pytest.mark.parametrize("prune_min", [0, 1 << 40])
def test_fast_ranking_matches_exact_distances(monkeypatch: pytest.MonkeyPatch, prune_min: int) -> None:
    """The float32 ranking pass (full, and top-k with or without pruning) ranks exactly as the
    float64 distances do."""
    import importlib

    from sedna_market.search.stat_index import StatIndex
    from sedna_market.search.stat_search import rank_single, stat_search
    from sedna_market.spec.rkme import RKMETableSpec

    # the package exports the function stat_search under the module's name: fetch the module
    stat_search_module = importlib.import_module("sedna_market.search.stat_search")
    monkeypatch.setattr(stat_search_module, "PRUNE_MIN_ENTRIES", prune_min)
    rng = np.random.default_rng(11)
    centres = rng.normal(0.0, 1.5, size=(40, DIM))
    specs = []
    for i in range(400):  # 40 tasks, 10 near-copies each: many near-ties at the head
        z = rng.normal(centres[i % 40], 1.0, size=(40, DIM)) + rng.normal(0, 0.02, size=(40, DIM))
        specs.append((f"m{i}", RKMETableSpec(z, rng.dirichlet(np.ones(40)), 0.1, 100)))
    index = StatIndex(specs)
    group = index.groups[(DIM,)]
    for u in range(4):
        user = RKMETableSpec(rng.normal(centres[u * 3], 1.0, size=(60, DIM)), np.full(60, 1 / 60), 0.1, 60)
        exact = group.distances(user)
        truth = np.lexsort((np.arange(len(exact)), exact))
        _, order, dists = rank_single(index, user)
        assert order[:8].tolist() == truth[:8].tolist()
        assert np.allclose(dists, exact[order], rtol=0, atol=1e-6)
        _, order32, _ = rank_single(index, user, exact_head=32)
        assert order32[:32].tolist() == truth[:32].tolist()
        _, top_order, top_d = rank_single(index, user, top=5)
        assert top_order.tolist() == truth[:5].tolist()
        assert np.allclose(top_d, exact[truth[:5]], rtol=0, atol=1e-12)
        allowed = {f"m{i}" for i in range(0, 400, 3)}
        _, sub, _ = rank_single(index, user, allowed=allowed, top=5)
        keep = np.array([i % 3 == 0 for i in range(400)])
        assert sub.tolist() == [i for i in truth if keep[i]][:5]
    res = stat_search(index, user, max_search_num=3, mixture=False)
    assert res.mixture is None and res.single[0].id == f"m{truth[0]}"
