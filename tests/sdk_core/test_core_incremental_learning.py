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


class _SednaStyleEstimator(SoftmaxEstimator):
    """As Sedna's IL examples write it: ``evaluate`` opens ``model_path`` itself and has no
    ``**kwargs`` (so only named parameters reach it)."""

    def evaluate(self, data, model_path):  # type: ignore[override]
        self.load(model_path)
        x, y = self._xy(data)
        return {"precision": [float((self.predict(x) == y).mean())]}

    def load(self, model_url):  # type: ignore[override]
        self.opened = model_url
        return super().load(model_url)


def test_evaluate_passes_model_path_as_sedna_does(tmp_path, fake_lc, monkeypatch):
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    monkeypatch.setenv("JOB_NAME", "il-demo")
    monkeypatch.setenv("WORKER_NAME", "il-demo-eval-x1")
    x, y = load_digits_xy()
    good = SoftmaxEstimator(epochs=40)
    good.train(Shard(x[:800], y[:800]))
    const = SoftmaxEstimator()
    const.W[:] = 0.0
    const.b[:] = np.eye(10)[3] * 10
    urls = [good.save(str(tmp_path / "new.pkl")), const.save(str(tmp_path / "old.pkl"))]
    monkeypatch.setenv("MODEL_URLS", f" {urls[0]} ; {urls[1]};")  # blanks and a trailing ; as users write
    results = IncrementalLearning(estimator=_SednaStyleEstimator).evaluate(Shard(x[1200:1500], y[1200:1500]))
    assert [r["url"] for r in results] == urls
    new, old = (r["metrics"]["precision"][0] for r in results)
    assert new > 0.8 and old < 0.2  # each model scored on its own file
    assert fake_lc.of_kind("eval")[-1]["results"] == results


class _ConfiguredByTrainKwargs(SoftmaxEstimator):
    """Sedna builds an estimator class at train time with the train kwargs its constructor
    names; this one takes its epochs only there."""

    def __init__(self, epochs: int = 1, **kwargs):  # type: ignore[override]
        super().__init__(epochs=epochs, **kwargs)

    def train(self, train_data, valid_data=None):  # type: ignore[override]
        return super().train(train_data, valid_data, epochs=self.epochs)


def test_train_builds_the_estimator_class_with_the_train_kwargs_when_fine_tuning(tmp_path, fake_lc, monkeypatch):
    monkeypatch.setenv("BACKEND_TYPE", "SKLEARN")
    monkeypatch.setenv("JOB_NAME", "il-kwargs")
    x, y = load_digits_xy()
    base = SoftmaxEstimator(epochs=1)
    base.train(Shard(x[:50], y[:50]))
    monkeypatch.setenv("BASE_MODEL_URL", base.save(str(tmp_path / "base.pkl")))  # the LC's fine-tune base
    monkeypatch.setenv("MODEL_URL", str(tmp_path / "out"))
    il = IncrementalLearning(estimator=_ConfiguredByTrainKwargs)
    il.train(Shard(x[:800], y[:800]), epochs=60)
    model = il.estimator.estimator
    assert isinstance(model, _ConfiguredByTrainKwargs) and model.epochs == 60
    assert not np.array_equal(model.W, base.W)  # the base model was loaded, then trained on
    assert fake_lc.of_kind("train")[-1]["results"][0]["metrics"]["accuracy"] > 0.85


class _HelmetStyleEstimator(SoftmaxEstimator):
    """Sedna's helmet IL example: ``evaluate(self, valid_data, model_path="", ...)``, the data
    arriving positionally (as Sedna's TF backend passes it), the model opened from model_path."""

    def evaluate(self, valid_data, model_path="", class_names="", **kwargs):  # type: ignore[override]
        self.load(model_path)
        return {"precision": float((self.predict(valid_data) == valid_data.y).mean()), "names": class_names}


def test_evaluate_passes_the_data_positionally_and_one_result_per_pb_model(tmp_path, fake_lc, monkeypatch):
    """TF's ``.pb`` models get a second ``ckpt`` entry in ``model_info``; eval still reports one
    result per MODEL_URLS entry, in order, or the deploy trigger compares a model with itself."""
    monkeypatch.setenv("BACKEND_TYPE", "TENSORFLOW")
    monkeypatch.setenv("JOB_NAME", "il-helmet")
    x, y = load_digits_xy()
    good = SoftmaxEstimator(epochs=40)
    good.train(Shard(x[:800], y[:800]))
    weak = SoftmaxEstimator(epochs=1)
    weak.train(Shard(x[:20], y[:20]))
    (tmp_path / "new").mkdir()
    (tmp_path / "old").mkdir()
    urls = [good.save(str(tmp_path / "new" / "model.pb")), weak.save(str(tmp_path / "old" / "model.pb"))]
    monkeypatch.setenv("MODEL_URLS", ";".join(urls))
    results = IncrementalLearning(estimator=_HelmetStyleEstimator).evaluate(
        Shard(x[1200:1500], y[1200:1500]), class_names="digits")
    assert [(r["format"], r["url"]) for r in results] == [("pb", urls[0]), ("pb", urls[1])]
    new, old = (r["metrics"]["precision"] for r in results)
    assert new > old + 0.1
    assert results[0]["metrics"]["names"] == "digits"
    assert fake_lc.of_kind("eval")[-1]["results"] == results
