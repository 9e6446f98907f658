"""Lifelong learning: tasks by data attribute, per-task models, KB index, unseen-task detection."""

from __future__ import annotations

import json
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


# -- the constructors of every Sedna release, at once -----------------------------------------

FEATURES = ["t_air", "rh"]


class CentroidEstimator:
    """Nearest class mean; fails on any non-numeric column, so it proves the attribute columns
    never reach a task model (Sedna drops them), and records every column list it saw."""

    columns_seen: list[list[str]] = []

    def __init__(self, **kwargs: object) -> None:
        self.classes: np.ndarray | None = None
        self.means: np.ndarray | None = None

    def _x(self, data: object) -> np.ndarray:
        x = getattr(data, "x", data)
        if hasattr(x, "columns"):
            CentroidEstimator.columns_seen.append(list(x.columns))
        return np.asarray(x, dtype=float)

    def _dist(self, data: object) -> np.ndarray:
        assert self.means is not None
        x = self._x(data)
        return ((x[:, None, :] - self.means[None, :, :]) ** 2).sum(-1)

    def train(self, train_data: object, valid_data: object = None, **kwargs: object) -> dict[str, float]:
        x, y = self._x(train_data), np.asarray(train_data.y)  # type: ignore[attr-defined]
        self.classes = np.unique(y)
        self.means = np.stack([x[y == c].mean(0) for c in self.classes])
        return {}

    def predict(self, data: object, **kwargs: object) -> np.ndarray:
        assert self.classes is not None
        return self.classes[self._dist(data).argmin(1)]

    def predict_proba(self, data: object, **kwargs: object) -> np.ndarray:
        e = np.exp(-self._dist(data))
        return e / e.sum(1, keepdims=True)

    def save(self, model_path: str) -> str:
        assert self.classes is not None and self.means is not None
        with open(model_path, "w", encoding="utf-8") as fh:
            json.dump({"classes": self.classes.tolist(), "means": self.means.tolist()}, fh)
        return model_path

    def load(self, model_url: str) -> None:
        with open(model_url, encoding="utf-8") as fh:
            saved = json.load(fh)
        self.classes, self.means = np.asarray(saved["classes"]), np.asarray(saved["means"])


def _season(rng: np.random.Generator, n: int, season: str, shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two classes whose side flips with the season: per-season models separate them, one global
    model cannot (~50 %). ``shift`` moves the features away (an unseen task)."""
    y = rng.integers(0, 2, n)
    sign = -1.0 if season == "winter" else 1.0
    x = rng.normal(0, 0.6, size=(n, 2))
    x[:, 0] += sign * (2 * y - 1) * 2.0
    x[:, 1] += shift
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["season"] = season
    return frame, y


def _seasons(seed: int, n: int, extra: tuple[str, float] | None = None) -> Shard:
    rng = np.random.default_rng(seed)
    parts = [_season(rng, n, "summer"), _season(rng, n, "winter")]
    if extra is not None:
        parts.append(_season(rng, n, extra[0], extra[1]))
    return Shard(pd.concat([p[0] for p in parts], ignore_index=True), np.concatenate([p[1] for p in parts]))


class ConfidenceFilter:
    """A 0.4-style unseen_task_detect class (``method`` given as the class itself)."""

    calls: list[dict[str, object]] = []

    def __call__(self, tasks: list[object] | None = None, result: object = None, **param: object) -> bool:
        ConfidenceFilter.calls.append({"tasks": len(tasks or []), "param": param})
        return False


def _v03() -> LifelongLearning:
    return LifelongLearning(
        estimator=CentroidEstimator,
        task_definition="TaskDefinitionByDataAttr",
        task_relationship_discovery="DefaultTaskRelationDiscover",
        task_mining="TaskMiningByDataAttr",
        unseen_task_detect="TaskAttr",
        task_definition_param='{"attribute": ["season"]}',
        task_mining_param='{"attribute": ["season"]}',
        unseen_task_detect_param="{}",
    )


def _v04() -> LifelongLearning:
    return LifelongLearning(
        estimator=CentroidEstimator(),
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": ["season"]}},
        task_relationship_discovery={"method": "DefaultTaskRelationDiscover", "param": {}},
        task_mining={},  # no method: paired with the definition, with its params
        task_remodeling=None,
        inference_integrate=None,
        unseen_task_detect={"method": ConfidenceFilter, "param": {"threshold": 0.8}},
    )


def _v05() -> LifelongLearning:
    return LifelongLearning(
        estimator=CentroidEstimator(),
        task_definition={"method": "TaskDefinitionByDataAttr", "param": '{"attribute": ["season"]}'},
        task_mining={"method": "TaskMiningByDataAttr", "param": '{"attribute": ["season"]}'},
        unseen_task_detect={"method": "TaskAttrFilter", "param": "{}"},
    )


def _v06() -> LifelongLearning:
    return LifelongLearning(
        CentroidEstimator(),
        unseen_estimator=lambda: "unseen-task",
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": ["season"]}},
        task_relationship_discovery={"method": "DefaultTaskRelationDiscover", "param": {}},
        task_allocation={"method": "TaskAllocationByDataAttr", "param": {"attribute": ["season"]}},
        task_remodeling={"method": "DefaultTaskRemodeling", "param": {}},
        inference_integrate={"method": "DefaultInferenceIntegrate", "param": {}},
        task_update_decision={"method": "UpdateStrategyDefault"},
        unseen_task_allocation={"method": "UnseenTaskAllocationDefault"},
        unseen_sample_recognition={"method": "SampleRegonitionByDistance", "param": {"factor": 1.5}},
        unseen_sample_re_recognition={"method": "SampleReRegonitionDefault"},
    )


def _head_mix() -> LifelongLearning:
    # pitfall 10: atcii (0.4 keywords) and cityscapes (0.6 positional + task_allocation) styles
    return LifelongLearning(
        CentroidEstimator,
        task_definition={"method": "TaskDefinitionByDataAttr", "param": {"attribute": ["season"]}},
        task_allocation={"method": "TaskAllocationByDataAttr"},  # attribute from the extractor
        unseen_task_detect={"method": "ModelProbeFilter", "param": {"threshold": 0.3}},
    )


@pytest.mark.parametrize("version", ["0.3", "0.4", "0.5", "0.6", "head"])
def test_every_release_constructor_learns(version, tmp_path, fake_lc, monkeypatch):
    build = {"0.3": _v03, "0.4": _v04, "0.5": _v05, "0.6": _v06, "head": _head_mix}[version]
    monkeypatch.setenv("JOB_NAME", "ll-compat")
    monkeypatch.setenv("WORKER_NAME", "ll-compat-train")
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path / "out"))
    CentroidEstimator.columns_seen.clear()
    trainer = build()
    assert trainer.methods["task_allocation"].method == "TaskAllocationByDataAttr"
    trainer.train(_seasons(1, 80))
    index = LocalKnowledgeBase(tmp_path / "out").load_index()
    assert [g.entry for g in index["task_groups"]] == ["summer", "winter"]

    monkeypatch.setenv("WORKER_NAME", "ll-compat-eval")
    monkeypatch.setenv("MODEL_URLS", str(tmp_path / "out" / "index.pkl"))
    monkeypatch.setenv("model_threshold", "0.8")
    scores, details = build().evaluate(_seasons(2, 60, ("monsoon", 9.0)), metrics="accuracy_score")
    assert min(scores.values()) > 0.9, scores  # per-season models learned the flipped classes
    quality = fake_lc.of_kind("eval")[-1]["results"][0]["quality"]
    assert quality["seen_task_accuracy"] > 0.9 and quality["unseen_f1"] > 0.9, quality
    assert all(d["deploy"] for d in details)

    monkeypatch.setenv("WORKER_NAME", "ll-compat-infer")
    monkeypatch.setenv("MODEL_URLS", fake_lc.of_kind("eval")[-1]["results"][0]["url"])
    probe = _seasons(3, 20, ("monsoon", 9.0))
    result, is_unseen, tasks = build().inference(Shard(probe.x, None))
    assert is_unseen and sum(is_unseen.values()) == 20  # the 20 monsoon samples, and only them
    seen_hits = (np.asarray(result[:40]) == probe.y[:40]).mean()
    assert seen_hits > 0.9
    assert {t.entry for t in tasks} == {"summer", "winter", "unseen"}
    # the estimator saw the feature columns only, never the attribute column
    assert CentroidEstimator.columns_seen and all(c == FEATURES for c in CentroidEstimator.columns_seen)
    if version == "0.6":
        assert list(result[40:]) == ["unseen-task"] * 20  # the callable unseen_estimator answered
    if version == "0.4":
        assert ConfidenceFilter.calls and ConfidenceFilter.calls[-1]["param"] == {"threshold": 0.8}


def test_one_sample_gets_a_bool_and_a_batch_per_sample_flags(tmp_path, fake_lc, monkeypatch):
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path))
    _v06().train(_seasons(1, 60))
    monkeypatch.setenv("MODEL_URLS", str(tmp_path / "index.pkl"))
    infer = _v06()
    probe = _seasons(4, 3, ("monsoon", 9.0))
    _, one, _ = infer.inference(Shard(probe.x.iloc[[7]], None))
    assert one is True  # a monsoon sample alone: Sedna 0.6's bool
    _, flags, _ = infer.inference(Shard(probe.x, None))
    assert dict(flags) == {i: i >= 6 for i in range(9)}  # keyed by the rows
    assert json.loads(json.dumps(flags)) == {str(i): i >= 6 for i in range(9)}
    _, none_unseen, _ = infer.inference(Shard(probe.x.iloc[:6], None))
    assert not none_unseen  # 0.3-0.5 scripts test its truth value


def test_an_unknown_attribute_value_is_an_unseen_task_for_the_0_3_filter(tmp_path, fake_lc, monkeypatch):
    """TaskAttr(Filter) compares each served task's meta attribute with its model's: samples of a
    season no model was trained on (answered by the global model) make an unseen task, even
    when their features look familiar."""
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path))
    _v03().train(_seasons(1, 60))
    monkeypatch.setenv("MODEL_URLS", str(tmp_path / "index.pkl"))
    autumn = _seasons(5, 10, ("autumn", 0.0))  # near the known seasons in feature space
    result, flags, tasks = _v03().inference(Shard(autumn.x, None))
    assert {t.entry for t in tasks} == {"summer", "winter", "global"}
    assert [k for k, v in flags.items() if v] == list(range(20, 30))


def test_json_string_params_are_parsed_and_bad_json_is_an_error():
    ll = LifelongLearning(
        SoftmaxEstimator(),
        task_definition={"method": "TaskDefinitionByDataAttr", "param": '{"attribute": ["season", "city"]}'},
    )
    assert ll.methods["task_definition"].param == {"attribute": ["season", "city"]}
    # paired with the definition: same method family, the definition's params
    assert ll.methods["task_allocation"].method == "TaskAllocationByDataAttr"
    assert ll.methods["task_allocation"].param == {"attribute": ["season", "city"]}
    with pytest.raises(ValueError, match="not valid JSON"):
        LifelongLearning(estimator=SoftmaxEstimator(), task_definition="TaskDefinitionByDataAttr",
                         task_definition_param="{'attribute': ['season']}")
    svc = LifelongLearning(estimator=SoftmaxEstimator(), task_definition="TaskDefinitionBySVC",
                           task_definition_param='{"n_class": 3}')
    assert (svc.methods["task_allocation"].method, svc.methods["task_allocation"].param) == (
        "TaskAllocationBySVC", {"n_class": 3})


def test_estimator_spellings_and_conflicts():
    by_keyword = LifelongLearning(seen_estimator=SoftmaxEstimator())
    by_old_positional = LifelongLearning(SoftmaxEstimator(), "TaskDefinitionBySVC")  # 0.3: definition 2nd
    assert by_old_positional.methods["task_definition"].method == "TaskDefinitionBySVC"
    assert by_old_positional.unseen_estimator is None and by_keyword.unseen_estimator is None
    with pytest.raises(TypeError, match="not both"):
        LifelongLearning(SoftmaxEstimator(), estimator=SoftmaxEstimator())
    with pytest.raises(TypeError, match="needs an estimator"):
        LifelongLearning()
    with pytest.raises(TypeError, match="not both"):
        LifelongLearning(SoftmaxEstimator(), task_allocation={"method": "TaskAllocationByDataAttr"},
                         task_mining={"method": "TaskMiningByDataAttr"})


def test_task_mining_names_and_old_filters_are_usable():
    from sedna.algorithms.seen_task_learning import TaskAllocationByDataAttr, TaskAllocationBySVC
    from sedna.algorithms.seen_task_learning.artifact import Model, Task

    ll = LifelongLearning(estimator=SoftmaxEstimator(), task_allocation={"method": "TaskMiningBySVC"})
    assert ll.methods["task_allocation"].method == "TaskAllocationBySVC"
    assert ClassFactory.get_cls(ClassType.MTL, "TaskMiningByDataAttr") is TaskAllocationByDataAttr
    assert ClassFactory.get_cls(ClassType.MTL, "TaskMiningBySVC") is TaskAllocationBySVC
    seen = Task("a", samples=Shard(np.zeros((2, 2)), None), meta_attr={"season": "summer"},
                model=Model(0, "a", None, None, {"season": "summer"}))
    other = Task("b", samples=Shard(np.zeros((2, 2)), None), meta_attr={"season": "autumn"},
                 model=Model(-1, "global", None, None, None))
    for name in ("TaskAttr", "TaskAttrFilter"):
        utd = ClassFactory.get_cls(ClassType.UTD, name)()
        assert utd(tasks=[seen], result=None) is False
        assert utd(tasks=[seen, other], result=None) is True and utd.task_flags == [False, True]

    class Sure:
        def predict_proba(self, x: object) -> np.ndarray:
            return np.array([[0.95, 0.05], [0.9, 0.1]])

    class Unsure(Sure):
        def predict_proba(self, x: object) -> np.ndarray:
            return np.array([[0.5, 0.5], [0.6, 0.4]])

    sure = Task("a", samples=Shard(np.zeros((2, 2)), None), model=Model(0, "a", Sure()))
    unsure = Task("b", samples=Shard(np.zeros((2, 2)), None), model=Model(1, "b", Unsure()))
    for name in ("ModelProbe", "ModelProbeFilter"):
        utd = ClassFactory.get_cls(ClassType.UTD, name)()
        assert utd(tasks=[sure], result=None, threshold=0.7) is False
        assert utd(tasks=[sure, unsure], result=None, threshold=0.7) is True and utd.task_flags == [False, True]


def test_attribute_definition_drops_the_attribute_columns():
    from sedna.algorithms.seen_task_learning import TaskAllocationByDataAttr, TaskDefinitionByDataAttr

    frame = pd.DataFrame({"t": [1.0, 2.0, 3.0], "season": ["a b", "x_y", "a b"], "city": [1, 1, 2]})
    tasks, extractor, plain = TaskDefinitionByDataAttr(attribute="season, city")(Shard(frame, np.zeros(3)))
    assert list(plain.x.columns) == ["t"] and all(list(t.samples.x.columns) == ["t"] for t in tasks)
    assert [t.entry for t in tasks] == ["ab_1", "x-y_1", "ab_2"]  # Sedna's entry names
    assert dict(extractor) == {"ab_1": 0, "x-y_1": 1, "ab_2": 2} and extractor.attribute == ["season", "city"]
    allocated, mapping = TaskAllocationByDataAttr(extractor)(Shard(frame.iloc[::-1], None))
    assert mapping == [2, 1, 0] and list(allocated.x.columns) == ["t"]
    _, unknown = TaskAllocationByDataAttr(extractor)(Shard(pd.DataFrame({"t": [1.0]}), None))
    assert unknown == [-1]  # no attribute columns at all: no task, the global model answers


def test_sedna_drop_rule_for_eval(tmp_path, fake_lc, monkeypatch):
    """``operator``/``model_threshold`` say when a task is *dropped* (Sedna 0.4+; its default
    ``>`` 0.1 dropped every useful task, so without ``operator`` the low scores drop)."""
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path))
    _v05().train(_seasons(1, 60))
    monkeypatch.setenv("MODEL_URLS", str(tmp_path / "index.pkl"))
    data = _seasons(2, 40)
    monkeypatch.setenv("operator", ">")
    monkeypatch.setenv("model_threshold", "0.5")
    scores, details = _v05().evaluate(data, metrics="accuracy_score")
    assert min(scores.values()) > 0.5 and [d["deploy"] for d in details] == [False, False]
    monkeypatch.setenv("operator", "<")
    _, details = _v05().evaluate(data, metrics="accuracy_score")
    assert [d["deploy"] for d in details] == [True, True]
    monkeypatch.delenv("operator")
    _, details = _v05().evaluate(data, metrics=["accuracy_score"], model_threshold=0.5)  # 0.3's keyword
    assert [d["deploy"] for d in details] == [True, True]


def test_a_round_without_samples_of_a_task_keeps_that_task(tmp_path, fake_lc, monkeypatch):
    """Round 2 trains on collected unseen samples only (a new season): the knowledge base keeps
    the season models of round 1 and adds the new one, so nothing learned is forgotten."""
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path / "r1"))
    _v06().train(_seasons(1, 60))
    first = LocalKnowledgeBase(tmp_path / "r1").load_index()
    monkeypatch.setenv("OUTPUT_URL", str(tmp_path / "r2"))
    monkeypatch.setenv("HAS_COMPLETED_INITIAL_TRAINING", "true")
    monkeypatch.setenv("CLOUD_KB_INDEX", str(tmp_path / "r1" / "index.pkl"))
    rng = np.random.default_rng(8)
    monsoon_x, monsoon_y = _season(rng, 60, "monsoon", 9.0)
    _v06().train(Shard(monsoon_x, monsoon_y))
    index = LocalKnowledgeBase(tmp_path / "r2").load_index()
    assert [g.entry for g in index["task_groups"]] == ["monsoon", "summer", "winter"]
    assert dict(index["extractor"]) == {"monsoon": 0, "summer": 1, "winter": 2}
    assert index["task_groups"][1].model.model == first["task_groups"][0].model.model  # round 1's model
    assert fake_lc.of_kind("train")[-1]["results"][0]["metrics"] == {"monsoon": 60, "summer": 60, "winter": 60}
    monkeypatch.setenv("MODEL_URLS", str(tmp_path / "r2" / "index.pkl"))
    probe = _seasons(3, 20, ("monsoon", 9.0))
    result, flags, tasks = _v06().inference(Shard(probe.x, None))
    assert not flags  # the monsoon is a known task now
    assert {t.entry for t in tasks} == {"summer", "winter", "monsoon"}
    assert (np.asarray(result) == probe.y).mean() > 0.9
