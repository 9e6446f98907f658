"""Lifelong learning worker (train / eval / infer roles of a LifelongLearningJob).

Pipeline (each step a registered algorithm, chosen with ``{"method": alias, "param": {...}}``):

* train: task definition -> task relationship discovery -> update decision -> one model per
  task group; groups with at most ``MIN_TRAIN_SAMPLE`` (10) samples are answered by a global
  model trained on all samples; the task index (``index.pkl``) is written under ``OUTPUT_URL``
  through a :class:`~sedna.algorithms.knowledge_management.KnowledgeBase`.
* evaluate: per-task scores; a task is deployed when ``score <operator> model_threshold``
  (params ``operator``, default ``>``; ``model_threshold``, default 0.1); the deploy index is
  written to ``OUTPUT_URL/deploy/index.pkl``.
* inference: unseen-sample recognition -> allocation of seen samples to task models ->
  remodeling -> integration; unseen samples are answered by the global model.

Knowledge base: ``KB_BACKEND=local`` (default) or ``market`` (the model market: task models
stored with RKME specs, allocation by statistical distance, unseen tasks by a calibrated
threshold; see :mod:`sedna.algorithms.knowledge_management.market_kb`). With ``market``, task
allocation and unseen-sample recognition default to the market's components.
"""

from __future__ import annotations

import copy
import inspect
import operator as op
import os
import pickle
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

import sedna.algorithms.knowledge_management  # noqa: F401 - registers the KM strategies
import sedna.algorithms.multi_task_learning  # noqa: F401 - registers the older MTL aliases
import sedna.algorithms.seen_task_learning  # noqa: F401 - registers the STP components
import sedna.algorithms.unseen_task_detection  # noqa: F401 - registers the UTD recognisers
import sedna.algorithms.unseen_task_processing  # noqa: F401 - registers UTP
from sedna.algorithms.knowledge_management import (
    INDEX_FILE,
    KB_BACKEND_ENV,
    KnowledgeBase,
    LocalKnowledgeBase,
    MarketKnowledgeBase,
    fit_task_statistics,
)
from sedna.algorithms.seen_task_learning.artifact import (
    Model,
    Task,
    TaskGroup,
    as_samples,
    sample_count,
    subset,
)
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.file_ops import FileOps
from sedna.core.base import JobBase, K8sResourceKind, K8sResourceKindStatus, resolve_callback

__all__ = ["LifelongLearning"]

_OPERATORS = {">": op.gt, ">=": op.ge, "<": op.lt, "<=": op.le, "==": op.eq, "=": op.eq, "!=": op.ne}

DEFAULTS: dict[str, dict[str, Any]] = {
    "task_definition": {"method": "TaskDefinitionByDataAttr"},
    "task_relationship_discovery": {"method": "DefaultTaskRelationDiscover"},
    "task_allocation": {"method": "TaskAllocationByDataAttr"},
    "task_remodeling": {"method": "DefaultTaskRemodeling"},
    "inference_integrate": {"method": "DefaultInferenceIntegrate"},
    "task_update_decision": {"method": "UpdateStrategyDefault"},
    "unseen_task_allocation": {"method": "UnseenTaskAllocationDefault"},
    # Sedna's default recogniser calls every sample seen; ours measures it (documented rule)
    "unseen_sample_recognition": {"method": "SampleRegonitionByDistance"},
    "unseen_sample_re_recognition": {"method": "SampleReRegonitionDefault"},
}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "task"


def _first_score(value: Any) -> float:
    if isinstance(value, dict):
        for v in value.values():
            return _first_score(v)
        return 0.0
    if isinstance(value, list | tuple) and value:
        return _first_score(value[0])
    return float(value)


class LifelongLearning(JobBase):
    """Sedna's ``LifelongLearning``; every pipeline argument is ``{"method", "param"}``."""

    job_kind_default = K8sResourceKind.LIFELONG_JOB

    def __init__(
        self,
        estimator: Any,
        task_definition: dict[str, Any] | None = None,
        task_relationship_discovery: dict[str, Any] | None = None,
        task_allocation: dict[str, Any] | None = None,
        task_remodeling: dict[str, Any] | None = None,
        inference_integrate: dict[str, Any] | None = None,
        task_update_decision: dict[str, Any] | None = None,
        unseen_task_allocation: dict[str, Any] | None = None,
        unseen_sample_recognition: dict[str, Any] | None = None,
        unseen_sample_re_recognition: dict[str, Any] | None = None,
        knowledge_base: KnowledgeBase | None = None,
    ) -> None:
        super().__init__(estimator=estimator)
        self.job_kind = K8sResourceKind.LIFELONG_JOB
        given = {
            "task_definition": task_definition,
            "task_relationship_discovery": task_relationship_discovery,
            "task_allocation": task_allocation,
            "task_remodeling": task_remodeling,
            "inference_integrate": inference_integrate,
            "task_update_decision": task_update_decision,
            "unseen_task_allocation": unseen_task_allocation,
            "unseen_sample_recognition": unseen_sample_recognition,
            "unseen_sample_re_recognition": unseen_sample_re_recognition,
        }
        self.methods = {k: dict(v or DEFAULTS[k]) for k, v in given.items()}
        utd_env = self.parameters.get_algorithm_from_api("UTD")
        if utd_env and unseen_sample_recognition is None:
            self.methods["unseen_sample_recognition"] = utd_env
        self.output_url = str(self.get_parameters("OUTPUT_URL", "/tmp"))
        self.min_train_sample = int(self.get_parameters("MIN_TRAIN_SAMPLE", "10"))
        self.kb_server = self.get_parameters("KB_SERVER")
        self.template = copy.deepcopy(self.estimator)
        self.kb: KnowledgeBase = knowledge_base or self._select_kb()
        # a backend may bring its own allocation / recognition; explicit choices (arguments,
        # UTD_NAME) win over them
        for step, method in getattr(self.kb, "pipeline_defaults", {}).items():
            if given.get(step) is None and not (step == "unseen_sample_recognition" and utd_env):
                self.methods[step] = dict(method)
        self.index: dict[str, Any] | None = None
        self._model_cache: dict[str, Any] = {}

    # -- helpers -----------------------------------------------------------------------------
    def _select_kb(self) -> KnowledgeBase:
        """``KB_BACKEND`` (env or PARAMETERS): ``local`` (default) keeps the index under
        ``OUTPUT_URL``; ``market`` uses the model market, in-process or at ``KB_SERVER``."""
        backend = str(self.get_parameters(KB_BACKEND_ENV, "local") or "local").strip().lower()
        if backend in ("", "local", "index"):
            return LocalKnowledgeBase(self.output_url)
        if backend != "market":
            raise ValueError(f"unknown {KB_BACKEND_ENV} {backend!r}: use 'local' or 'market'")
        return MarketKnowledgeBase.from_parameters(self.output_url, self.get_parameters, self._load_model)

    def _build(self, type_name: str, step: str, **extra: Any) -> Any:
        method = self.methods[step]
        cls = ClassFactory.get_cls(type_name, method.get("method"))
        params = dict(method.get("param") or {})
        try:
            accepted = inspect.signature(cls.__init__).parameters
            takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        except (TypeError, ValueError):
            accepted, takes_kwargs = {}, True
        for key, value in extra.items():
            if takes_kwargs or key in accepted:
                params.setdefault(key, value)
        return cls(**params)

    def _new_estimator(self) -> Any:
        return copy.deepcopy(self.template)

    def _host_url(self, url: str) -> str:
        """A path as the node sees it: without ``DATA_PATH_PREFIX``, as Sedna reports model
        URLs (the LC and the next worker's mounts take host paths)."""
        return FileOps.remove_path_prefix(url, self.config.data_path_prefix)

    def _load_model(self, url: str) -> Any:
        if url not in self._model_cache:
            est = self._new_estimator()
            est.load(url)
            self._model_cache[url] = est
        return self._model_cache[url]

    def _save_model(self, est: Any, name: str) -> str:
        path = Path(self.output_url) / "models" / f"{_safe(name)}.model"
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = est.save(str(path))
        return saved if isinstance(saved, str) and os.path.exists(saved) else str(path)

    def _previous_index(self) -> dict[str, Any] | None:
        if str(self.get_parameters("HAS_COMPLETED_INITIAL_TRAINING", "false")).lower() != "true":
            return None
        url = self.get_parameters("CLOUD_KB_INDEX") or str(Path(self.output_url) / INDEX_FILE)
        try:
            return self.kb.load_index(url)
        except (OSError, pickle.UnpicklingError, EOFError):
            return None

    # -- train -------------------------------------------------------------------------------
    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Define tasks, train one model per task group (plus the global model), write the
        index and report; returns the global estimator (or ``post_process(estimator)``)."""
        callback = resolve_callback(post_process)
        train_data = as_samples(train_data)
        tasks, extractor, train_data = self._build(ClassType.STP, "task_definition")(train_data)
        groups: list[TaskGroup] = self._build(ClassType.STP, "task_relationship_discovery")(tasks)
        previous = self._previous_index()
        prev_models = {g.entry: g.model for g in (previous or {}).get("task_groups", []) if g.model is not None}
        update = self._build(ClassType.KM, "task_update_decision", task_index=previous)
        to_train, finetune = update(groups)
        to_train_entries = {g.entry for g in to_train}

        global_est = self._new_estimator()
        global_res = global_est.train(train_data=train_data, valid_data=valid_data, **kwargs)
        global_model = Model(index=-1, entry="global", model=self._save_model(global_est, "global"), result=global_res)
        merged: list[str] = []
        for i, group in enumerate(groups):
            n = sample_count(group.samples)
            group.sample_num = n
            if n <= self.min_train_sample:
                merged.append(group.entry)
                group.model = Model(i, group.entry, global_model.model, global_res, getattr(group.tasks[0], "meta_attr", None))
                continue
            if group.entry not in to_train_entries and group.entry in prev_models:
                group.model = prev_models[group.entry]
                continue
            est = self._new_estimator()
            if finetune and group.entry in prev_models:
                est.load(prev_models[group.entry].model)
            res = est.train(train_data=group.samples, valid_data=valid_data, **kwargs)
            url = self._save_model(est, group.entry)
            meta = group.tasks[0].meta_attr if group.tasks else None
            group.model = Model(index=i, entry=group.entry, model=url, result=res, meta_attr=meta)
            if hasattr(self.kb, "add_task_model"):
                self.kb.add_task_model(group, url)
        scale = fit_task_statistics(groups)
        for group in groups:  # the index keeps statistics, not the training data
            group.samples = None
            for task in group.tasks:
                task.samples = None
        self.index = {
            "extractor": extractor,
            "task_groups": groups,
            "global_model": global_model,
            "feature_scale": scale,
            "merged_into_global": merged,
            "methods": self.methods,
            "created_at": time.time(),
        }
        index_url = self.kb.save_index(self.index)
        self._upload_index(index_url)
        self._model_cache.clear()
        self.estimator = global_est
        results = [{
            "format": "pkl",
            "url": self._host_url(index_url),
            "metrics": {g.entry: g.sample_num for g in groups},
        }]
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED, results, kind="train")
        return callback(self.estimator) if callback else self.estimator

    def _upload_index(self, index_url: str) -> None:
        if not self.kb_server:
            return
        try:
            from sedna.service.client import KBClient

            KBClient(self.kb_server).update_db(index_url)
        except Exception as err:  # the local index is authoritative; the KB copy is best effort
            self.log.warning("knowledge base %s not updated: %s", self.kb_server, err)

    # -- index for eval / infer --------------------------------------------------------------
    def _ensure_index(self, url: str | None = None) -> dict[str, Any]:
        if url:
            self.index = self.kb.load_index(url)
            self._model_cache.clear()
        if self.index is None:
            urls = self.get_parameters("MODEL_URLS")
            first = str(urls).split(";")[0] if urls else None
            self.index = self.kb.load_index(first)
        return self.index

    def _group_models(self, index: dict[str, Any], deployed_only: bool) -> list[Any]:
        out = []
        for g in index["task_groups"]:
            if g.model is None or (deployed_only and not g.deploy):
                out.append(None)
            else:
                out.append(self._load_model(g.model.model))
        return out

    def _allocate(self, index: dict[str, Any], samples: Any) -> list[int]:
        alloc = self._build(
            ClassType.STP, "task_allocation", task_extractor=index["extractor"], task_groups=index["task_groups"]
        )
        _, mapping = alloc(samples)
        return list(mapping)

    def _predict_seen(self, index: dict[str, Any], samples: Any, deployed_only: bool, **kwargs: Any) -> tuple[Any, list[Task]]:
        models = self._group_models(index, deployed_only)
        global_est = self._load_model(index["global_model"].model)
        mapping = self._allocate(index, samples)
        remodel = self._build(ClassType.STP, "task_remodeling", models=models, fallback=global_est)
        data, ests, indices = remodel(samples, mapping)
        tasks: list[Task] = []
        for part, est, idx in zip(data, ests, indices, strict=True):
            entry = "global"
            m = mapping[int(idx[0])]
            if 0 <= m < len(models) and models[m] is not None:
                entry = index["task_groups"][m].entry
            pred = est.predict(part.x, **kwargs)
            tasks.append(Task(entry=entry, samples=part, result=pred, model=entry))
        integrate = self._build(ClassType.STP, "inference_integrate", models=models)
        return integrate(tasks, indices, sample_count(samples)), tasks

    # -- evaluate ----------------------------------------------------------------------------
    def evaluate(
        self,
        data: Any,
        metrics: Any = None,
        split_ratio: float | None = None,
        post_process: Any = None,
        metrics_param: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Score every task model on its allocated samples; mark tasks to deploy; report.

        ``metrics``: a callable ``(y_true, y_pred) -> float``, the name of a
        ``sklearn.metrics`` function, or None (the estimator's own ``evaluate``).
        ``split_ratio`` is accepted for Sedna compatibility and not used.
        Returns ``(scores by task entry, task details)``.
        """
        callback = resolve_callback(post_process)
        index = self._ensure_index()
        samples = as_samples(data)
        mapping = np.asarray(self._allocate(index, samples), dtype=int)
        models = self._group_models(index, deployed_only=False)
        global_est = self._load_model(index["global_model"].model)
        name = str(self.get_parameters("operator", ">"))
        compare = _OPERATORS.get(name, op.gt)
        threshold = float(self.get_parameters("model_threshold", "0.1"))
        scores: dict[str, float] = {}
        details: list[dict[str, Any]] = []
        for i, group in enumerate(index["task_groups"]):
            idx = np.flatnonzero(mapping == i)
            if len(idx) == 0:
                group.deploy = False
                details.append({"entry": group.entry, "samples": 0, "metrics": None, "deploy": False})
                continue
            part = subset(samples, idx)
            est = models[i] if models[i] is not None else global_est
            score = self._score(est, part, metrics, metrics_param or {}, **kwargs)
            scores[group.entry] = score
            group.deploy = bool(compare(score, threshold))
            details.append({"entry": group.entry, "samples": int(len(idx)), "metrics": score, "deploy": group.deploy})
        deploy_url = self.kb.save_index(index, name=f"deploy/{INDEX_FILE}")
        results = [{"format": "pkl", "url": self._host_url(deploy_url), "metrics": scores}]
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED, results, kind="eval")
        if callback:
            return callback(scores), details
        return scores, details

    @staticmethod
    def _score(est: Any, part: Any, metrics: Any, metrics_param: dict[str, Any], **kwargs: Any) -> float:
        if metrics is None:
            return _first_score(est.evaluate(part, **kwargs))
        fn = metrics
        if isinstance(metrics, str):
            import sklearn.metrics

            fn = getattr(sklearn.metrics, metrics)
        return float(fn(part.y, est.predict(part.x), **metrics_param))

    # -- inference ---------------------------------------------------------------------------
    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> tuple[Any, bool, list[Task]]:
        """Returns ``(result, is_unseen_task, tasks)``: results in input order, whether any
        sample was recognised as unseen, and the per-task pieces (an ``unseen`` task included)."""
        callback = resolve_callback(post_process)
        index = self._ensure_index()
        samples = as_samples(data)
        total = sample_count(samples)
        recogniser = self._build(ClassType.UTD, "unseen_sample_recognition", task_index=index)
        seen, unseen = recogniser(samples)
        seen_idx = np.asarray(getattr(recogniser, "seen_index", np.arange(sample_count(seen))), dtype=int)
        unseen_idx = np.asarray(getattr(recogniser, "unseen_index", np.zeros(0)), dtype=int)
        out: list[Any] = [None] * total
        tasks: list[Task] = []
        if len(seen_idx):
            seen_res, tasks = self._predict_seen(index, seen, deployed_only=True, **kwargs)
            for pos, value in zip(seen_idx, list(seen_res), strict=True):
                out[int(pos)] = value
        if len(unseen_idx):
            allocator = self._build(ClassType.UTP, "unseen_task_allocation", task_extractor=index["extractor"])
            allocator(unseen)
            global_est = self._load_model(index["global_model"].model)
            pred = global_est.predict(unseen.x, **kwargs)
            for pos, value in zip(unseen_idx, list(pred), strict=True):
                out[int(pos)] = value
            tasks.append(Task(entry="unseen", samples=unseen, result=pred, model="global"))
            self._save_unseen(unseen)
        try:
            result: Any = np.asarray(out)
        except ValueError:
            result = out
        if callback:
            result = callback(result)
        return result, bool(len(unseen_idx)), tasks

    def _save_unseen(self, unseen: Any) -> None:
        target = self.get_parameters("unseen_save_url")
        if not target:
            return
        path = Path(target) / f"unseen-{time.time_ns()}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump({"x": unseen.x, "y": getattr(unseen, "y", None)}, fh)
