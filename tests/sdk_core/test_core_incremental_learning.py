"""Incremental learning: train -> eval -> inference with hot model update, reports to a fake LC."""

from __future__ import annotations

import json
import time

import numpy as np

from sedna.core.base import wait_until
from sedna.core.incremental_learning import IncrementalLearning
from tests.sdk_core.fl_client import Shard
from tests.sdk_core.sdk_models import SoftmaxEstimator, load_digits_xy


def test_train_eval_hot_update(tmp_path, fake_lc, monkeypatch):
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    monkeypatch.setenv("JOB_NAME", "il-demo")
    monkeypatch.setenv("NAMESPACE", "default")
    monkeypatch.setenv("WORKER_NAME", "il-demo-train-x1")
    out_dir = tmp_path / "output" / "1"
    monkeypatch.setenv("MODEL_URL", str(out_dir))  # a directory, as the LC passes it
    x, y = load_digits_xy()

    il = IncrementalLearning(estimator=SoftmaxEstimator(epochs=40))
    il.train(Shard(x[:800], y[:800]))
    train = fake_lc.of_kind("train")[-1]
    assert train["ownerKind"] == "incrementallearningjob" and train["ownerName"] == "il-demo"
    assert train["status"] == "completed" and "ownerInfo" not in train
    model_file = train["results"][0]["url"]
    assert model_file.startswith(str(out_dir)) and model_file.endswith("." + train["results"][0]["format"])

    # eval: every MODEL_URLS entry is evaluated and reported as {format, url, metrics}
    const = SoftmaxEstimator()
    const.W[:] = 0.0
    const.b[:] = np.eye(10)[3] * 10  # a model that always answers 3
    other = const.save(str(tmp_path / "const.pkl"))
    monkeypatch.setenv("WORKER_NAME", "il-demo-eval-x1")
    monkeypatch.setenv("MODEL_URLS", f"{model_file};{other}")
    ev = IncrementalLearning(estimator=SoftmaxEstimator()).evaluate(Shard(x[1200:1500], y[1200:1500]))
    assert [r["url"] for r in ev] == [model_file, other], ev
    body = fake_lc.of_kind("eval")[-1]
    assert body["name"] == "il-demo-eval-x1" and body["ownerKind"] == "incrementallearningjob"
    assert [r["url"] for r in body["results"]] == [model_file, other]
    assert body["results"][0]["metrics"]["accuracy"] > 0.8

    # inference with hot update: the served model changes once model_config.json changes
    conf = tmp_path / "model-hot-update" / "model_config.json"
    conf.parent.mkdir()
    monkeypatch.setenv("WORKER_NAME", "il-demo-infer-x1")
    monkeypatch.setenv("MODEL_URL", model_file)
    monkeypatch.setenv("MODEL_HOT_UPDATE", "true")
    monkeypatch.setenv("MODEL_HOT_UPDATE_CONFIG", str(conf))
    monkeypatch.setenv("MODEL_POLL_PERIOD_SECONDS", "0.1")
    monkeypatch.setenv("HEM_NAME", "CrossEntropy")
    monkeypatch.setenv("HEM_PARAMETERS", json.dumps([{"key": "threshold_cross_entropy", "value": "0.5"}]))
    infer = IncrementalLearning(estimator=SoftmaxEstimator())
    sample = x[1300:1301]
    infer_res, res, is_hard = infer.inference(sample, post_process=lambda r: [1.0 / 10] * 10)
    assert infer_res.tolist() == [int(y[1300])] and is_hard  # uniform probabilities are hard

    conf.write_text(json.dumps({"model_config": {"model_path": other, "model_update_time": str(time.time())}}))
    assert wait_until(lambda: infer.hot_update_thread.reloads == 1, 5)
    assert infer.inference(sample)[0].tolist() == [3]  # the new model serves
    deploy = fake_lc.of_kind("deploy")[-1]
    assert deploy["status"] == "completed" and deploy["name"] == "il-demo-infer-x1"
    assert deploy["results"][0]["url"] == other

    # a broken model path: reported failed, the previous model keeps serving
    conf.write_text(json.dumps({"model_config": {"model_path": str(tmp_path / "missing.pkl"),
                                                 "model_update_time": "2"}}))
    assert wait_until(lambda: fake_lc.of_kind("deploy")[-1]["status"] == "failed", 5)
    assert infer.inference(sample)[0].tolist() == [3]
    infer.hot_update_thread.stop()
    np.testing.assert_array_equal(infer.inference(x[:5])[0], [3] * 5)
