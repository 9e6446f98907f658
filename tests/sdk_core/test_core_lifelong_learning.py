"""Lifelong learning: tasks by data attribute, per-task models, KB index, unseen-task detection."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from sedna.algorithms.knowledge_management import LocalKnowledgeBase
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.core.lifelong_learning import LifelongLearning
from tests.sdk_core.fl_client import Shard
from tests.sdk_core.sdk_models import SoftmaxEstimator, load_digits_xy

ATTR = {"method": "TaskDefinitionByDataAttr", "param": {"attribute": ["domain"]}}
ALLOC = {"method": "TaskAllocationByDataAttr", "param": {"attribute": ["domain"]}}


def _frame(x: np.ndarray, domain: str) -> pd.DataFrame:
    df = pd.DataFrame(x, columns=[f"p{i}" for i in range(x.shape[1])])
    df["domain"] = domain
    return df


def _domains(x: np.ndarray, y: np.ndarray, lo: int, hi: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Domain 'plain' = the digits, 'inverted' = 1 - pixels: two tasks of one problem."""
    xs = [_frame(x[lo:hi], "plain"), _frame(1.0 - x[lo:hi], "inverted")]
    return pd.concat(xs, ignore_index=True), np.concatenate([y[lo:hi], y[lo:hi]])


def test_train_evaluate_infer_with_unseen_task(tmp_path, fake_lc, monkeypatch):
    monkeypatch.setenv("JOB_NAME", "ll-demo")
    monkeypatch.setenv("NAMESPACE", "default")
    monkeypatch.setenv("WORKER_NAME", "ll-demo-train-x1")
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path / "out"))
    x, y = load_digits_xy()
    train_x, train_y = _domains(x, y, 0, 700)
    tiny = _frame(x[700:705], "tiny")  # 5 samples <= MIN_TRAIN_SAMPLE: merged into the global model
    train = Shard(pd.concat([train_x, tiny], ignore_index=True), np.concatenate([train_y, y[700:705]]))

    ll = LifelongLearning(estimator=SoftmaxEstimator(epochs=60), task_definition=ATTR, task_allocation=ALLOC)
    ll.train(train)
    index_path = tmp_path / "out" / "index.pkl"
    assert index_path.is_file()
    index = LocalKnowledgeBase(tmp_path / "out").load_index()
    assert [g.entry for g in index["task_groups"]] == ["plain", "inverted", "tiny"]
    assert index["merged_into_global"] == ["tiny"]
    assert index["task_groups"][2].model.model == index["global_model"].model
    body = fake_lc.of_kind("train")[-1]
    assert body["ownerKind"] == "lifelonglearningjob" and body["ownerName"] == "ll-demo"
    assert body["status"] == "completed" and body["results"][0]["url"] == str(index_path)

    # evaluate: per-task scores; 'tiny' gets no eval samples and is not deployed
    monkeypatch.setenv("WORKER_NAME", "ll-demo-eval-x1")
    monkeypatch.setenv("MODEL_URLS", str(index_path))
    monkeypatch.setenv("model_threshold", "0.5")
    ev_x, ev_y = _domains(x, y, 1200, 1400)
    evaluator = LifelongLearning(estimator=SoftmaxEstimator(), task_definition=ATTR, task_allocation=ALLOC)
    scores, details = evaluator.evaluate(Shard(ev_x, ev_y), metrics="accuracy_score")
    assert set(scores) == {"plain", "inverted"} and min(scores.values()) > 0.8
    assert [d["deploy"] for d in details] == [True, True, False]
    eval_body = fake_lc.of_kind("eval")[-1]
    assert eval_body["results"][0]["url"] == str(tmp_path / "out" / "deploy" / "index.pkl")
    assert eval_body["results"][0]["metrics"] == scores

    # inference: seen samples go to their task model; noise is an unseen task
    monkeypatch.setenv("WORKER_NAME", "ll-demo-infer-x1")
    monkeypatch.setenv("MODEL_URLS", str(tmp_path / "out" / "deploy" / "index.pkl"))
    infer = LifelongLearning(estimator=SoftmaxEstimator(), task_definition=ATTR, task_allocation=ALLOC)
    seen_x, seen_y = _domains(x, y, 1500, 1530)
    result, is_unseen, tasks = infer.inference(Shard(seen_x, None))
    assert not is_unseen
    assert (result == seen_y).mean() > 0.7
    assert sorted(t.entry for t in tasks) == ["inverted", "plain"]

    noise = _frame(np.random.default_rng(0).uniform(0, 1, size=(6, 64)), "plain")
    mixed = pd.concat([seen_x.iloc[:10], noise], ignore_index=True)
    result, is_unseen, tasks = infer.inference(Shard(mixed, None))
    assert is_unseen
    unseen = [t for t in tasks if t.entry == "unseen"]
    assert len(unseen) == 1 and len(unseen[0].samples.x) == 6
    assert len(result) == 16 and (result[:10] == seen_y[:10]).mean() >= 0.7


def test_sedna_aliases_are_registered():
    import sedna.core.lifelong_learning  # noqa: F401

    stp = ["TaskDefinitionByDataAttr", "TaskDefinitionBySVC", "TaskDefinitionByOrigin",
           "DefaultTaskRelationDiscover", "TaskAllocationByDataAttr", "TaskAllocationBySVC",
           "TaskAllocationDefault", "TaskAllocationStream", "TaskAllocationByOrigin",
           "DefaultTaskRemodeling", "DefaultInferenceIntegrate"]
    for alias in stp:
        assert ClassFactory.is_exists(ClassType.STP, alias), alias
    for alias in ("UpdateStrategyByFinetune", "UpdateStrategyDefault"):
        assert ClassFactory.is_exists(ClassType.KM, alias)
    for alias in ("SampleRegonitionDefault", "SampleReRegonitionDefault", "SampleRegonitionByDistance"):
        assert ClassFactory.is_exists(ClassType.UTD, alias)
    assert ClassFactory.is_exists(ClassType.UTP, "UnseenTaskAllocationDefault")
    for alias in ("TaskMiningByDataAttr", "TaskMiningBySVC", "TaskDefinitionBySVC"):
        assert ClassFactory.is_exists(ClassType.MTL, alias)


@pytest.mark.parametrize("n_class", [3])
def test_svc_definition_and_allocation(n_class):
    from sedna.algorithms.seen_task_learning import TaskAllocationBySVC, TaskDefinitionBySVC

    x, y = load_digits_xy()
    tasks, extractor, _ = TaskDefinitionBySVC(n_class=n_class)(Shard(x[:300], y[:300]))
    assert len(tasks) == n_class and sum(len(t.samples.x) for t in tasks) == 300
    _, alloc = TaskAllocationBySVC(extractor)(Shard(x[:300], y[:300]))
    assert len(alloc) == 300 and set(alloc) <= set(range(n_class))
    assert os.environ.get("OUTPUT_URL") is None


def test_reports_host_paths_without_the_mount_prefix(tmp_path, fake_lc, monkeypatch):
    """On a cluster the output dir is a host path mounted under DATA_PATH_PREFIX: the train and
    eval reports name the host path (the LC copies it, the next worker mounts it), as Sedna's do."""
    prefix = tmp_path / "home-data"
    out = prefix / "var" / "lib" / "sedna" / "out"
    monkeypatch.setenv("DATA_PATH_PREFIX", str(prefix))
    monkeypatch.setenv("JOB_NAME", "ll-demo")
    monkeypatch.setenv("NAMESPACE", "default")
    monkeypatch.setenv("WORKER_NAME", "ll-demo-train-x1")
    monkeypatch.setenv("OUTPUT_URL", str(out))
    x, y = load_digits_xy()
    train_x, train_y = _domains(x, y, 0, 300)
    LifelongLearning(estimator=SoftmaxEstimator(epochs=20), task_definition=ATTR, task_allocation=ALLOC).train(
        Shard(train_x, train_y)
    )
    assert fake_lc.of_kind("train")[-1]["results"][0]["url"] == "/var/lib/sedna/out/index.pkl"
    monkeypatch.setenv("WORKER_NAME", "ll-demo-eval-x1")
    monkeypatch.setenv("MODEL_URLS", str(out / "index.pkl"))
    ev_x, ev_y = _domains(x, y, 1200, 1300)
    evaluator = LifelongLearning(estimator=SoftmaxEstimator(), task_definition=ATTR, task_allocation=ALLOC)
    evaluator.evaluate(Shard(ev_x, ev_y), metrics="accuracy_score")
    assert fake_lc.of_kind("eval")[-1]["results"][0]["url"] == "/var/lib/sedna/out/deploy/index.pkl"
