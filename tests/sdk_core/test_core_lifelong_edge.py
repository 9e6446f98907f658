"""Issue 11 item 4: lifelong learning on the edge. The inference worker swaps in a newly
deployed knowledge base without a restart (Sedna HEAD's edge hot update) and reports how many
samples it found unseen."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd

from sedna.core.lifelong_learning import LifelongLearning
from sedna.core.lifelong_learning.edge import IndexWatcher
from tests.sdk_core.fl_client import Shard
from tests.sdk_core.sdk_models import SoftmaxEstimator, load_digits_xy
from tests.sdk_core.test_core_lifelong_learning import ALLOC, ATTR, _frame


def _deploy(index: str, target: str) -> None:
    """What the LC's deploy does: a copy beside the target, renamed over it."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(index, target + ".tmp")
    os.replace(target + ".tmp", target)


def _train(tmp_path, monkeypatch, name: str, frames: list[pd.DataFrame], labels: list[np.ndarray]) -> str:
    monkeypatch.setenv("WORKER_NAME", f"ll-edge-train-{name}")
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path / name))
    ll = LifelongLearning(estimator=SoftmaxEstimator(epochs=60), task_definition=ATTR, task_allocation=ALLOC)
    ll.train(Shard(pd.concat(frames, ignore_index=True), np.concatenate(labels)))
    return str(tmp_path / name / "index.pkl")


def test_the_inference_worker_swaps_in_a_new_knowledge_base_and_counts_unseen(tmp_path, fake_lc, monkeypatch):
    monkeypatch.setenv("JOB_NAME", "ll-edge")
    monkeypatch.setenv("NAMESPACE", "default")
    monkeypatch.setenv("LC_PERIOD", "3600")  # reports are flushed by hand below
    x, y = load_digits_xy()
    plain, inverted = _frame(x[:600], "plain"), _frame(1.0 - x[:600], "inverted")
    deployed = str(tmp_path / "deploy" / "index.pkl")
    _deploy(_train(tmp_path, monkeypatch, "r1", [plain], [y[:600]]), deployed)

    monkeypatch.setenv("WORKER_NAME", "ll-edge-inference-a1")
    monkeypatch.setenv("MODEL_URLS", deployed)
    monkeypatch.setenv("MODEL_POLL_PERIOD_SECONDS", "0")
    infer = LifelongLearning(estimator=SoftmaxEstimator(), task_definition=ATTR, task_allocation=ALLOC)
    stream = pd.concat([_frame(x[1500:1510], "plain"), _frame(1.0 - x[1500:1510], "inverted")], ignore_index=True)
    _, flags, tasks = infer.inference(Shard(stream, None))
    assert [bool(flags[i]) for i in range(20)] == [False] * 10 + [True] * 10  # 'inverted' is unknown
    assert infer.hot_updates == 0

    # round 2 learns the inverted task; the LC replaces the deployed index in place
    _deploy(_train(tmp_path, monkeypatch, "r2", [plain, inverted], [y[:600], y[:600]]), deployed)
    monkeypatch.setenv("WORKER_NAME", "ll-edge-inference-a1")
    result, flags, tasks = infer.inference(Shard(stream, None))
    assert infer.hot_updates == 1
    assert not any(bool(flags[i]) for i in range(20))
    assert sorted(t.entry for t in tasks) == ["inverted", "plain"]
    assert (np.asarray(result)[10:] == y[1500:1510]).mean() >= 0.7  # answered by the new task's model
    infer.inference(Shard(stream, None))
    assert infer.hot_updates == 1  # the same file is not loaded twice

    assert infer._reporter is not None and infer._reporter.flush()
    (body,) = [r for r in fake_lc.of_kind("inference") if r["ownerName"] == "ll-edge"]
    assert body["ownerKind"] == "lifelonglearningjob" and body["status"] == "running"
    assert body["ownerInfo"]["inferenceNumber"] == 60 and body["ownerInfo"]["numberOfUnseenSample"] == 10


def test_a_broken_deploy_keeps_the_loaded_knowledge_base(tmp_path, fake_lc, monkeypatch):
    monkeypatch.setenv("JOB_NAME", "ll-edge")
    monkeypatch.setenv("NAMESPACE", "default")
    monkeypatch.setenv("LC_PERIOD", "3600")
    x, y = load_digits_xy()
    deployed = str(tmp_path / "deploy" / "index.pkl")
    _deploy(_train(tmp_path, monkeypatch, "r1", [_frame(x[:300], "plain")], [y[:300]]), deployed)
    monkeypatch.setenv("WORKER_NAME", "ll-edge-inference-b1")
    monkeypatch.setenv("MODEL_URLS", deployed)
    monkeypatch.setenv("MODEL_POLL_PERIOD_SECONDS", "0")
    infer = LifelongLearning(estimator=SoftmaxEstimator(), task_definition=ATTR, task_allocation=ALLOC)
    sample = Shard(_frame(x[1500:1505], "plain"), None)
    before, _, _ = infer.inference(sample)
    with open(deployed + ".tmp", "wb") as fh:
        fh.write(b"not a pickle")
    os.replace(deployed + ".tmp", deployed)
    after, _, _ = infer.inference(sample)
    assert infer.hot_updates == 0 and list(after) == list(before)


def test_the_watcher_checks_at_most_once_a_period_and_never_remote_urls(tmp_path):
    now = [0.0]
    target = tmp_path / "index.pkl"
    target.write_bytes(b"1")
    watcher = IndexWatcher(str(target), period=30, clock=lambda: now[0])
    watcher.mark_loaded()
    os.replace(_write(tmp_path / "new", b"22"), target)
    assert not watcher.changed()  # within the period
    now[0] = 31.0
    assert watcher.changed()
    assert IndexWatcher("http://kb:9020/index.pkl", period=0).changed() is False


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
