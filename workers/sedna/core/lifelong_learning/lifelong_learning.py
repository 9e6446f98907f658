"""Lifelong learning worker (train / eval / infer roles of a LifelongLearningJob).

One class accepts the constructors of every Sedna release (0.3 string methods and ``*_param``
JSON strings, 0.4/0.5 dicts with ``task_mining`` / ``unseen_task_detect``, 0.6+ positional
``seen_estimator`` with ``task_allocation`` ...): see :mod:`.methods` and
``docs/sdk-lifelong-learning.md``.

Pipeline (each step a registered algorithm):

* train: task definition (the attribute columns are dropped, as in Sedna) -> task relationship
  discovery -> update decision -> one model per task group; groups with at most
  ``MIN_TRAIN_SAMPLE`` (10) samples are answered by a global model trained on all samples; the
  task index (``index.pkl``) is written under ``OUTPUT_URL`` through a
  :class:`~sedna.algorithms.knowledge_management.KnowledgeBase`.
* evaluate: per-task scores; a task is *dropped* from the deploy index when
  ``score <operator> model_threshold`` holds (Sedna's env ``operator`` and ``model_threshold``);
  without ``operator`` a task is dropped when its score is below ``model_threshold`` (0.1).
  Also measured: the seen-task accuracy and the unseen-task F1 (see :meth:`evaluate`).
* inference: unseen-sample recognition -> allocation of seen samples to task models ->
  remodeling -> integration; unseen samples are answered by ``unseen_estimator`` or the global
  model; the 0.3-0.5 ``unseen_task_detect`` filter, when given, judges the seen tasks too.

Knowledge base: ``KB_BACKEND=local`` (default) or ``market`` (the model market: task models
stored with RKME specs, allocation by statistical distance, unseen tasks by a calibrated
threshold; see :mod:`sedna.algorithms.knowledge_management.market_kb`). With ``market``, task
allocation and unseen-sample recognition default to the market's components.
"""

from __future__ import annotations

import copy
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
from sedna.algorithms.seen_task_learning import attribute_columns
from sedna.algorithms.seen_task_learning.artifact import (
    Model,
    Task,
    TaskGroup,
    as_samples,
    drop_columns,
    present_columns,
    sample_count,
    subset,
)
from sedna.algorithms.unseen_task_detection import TASK_FILTERS
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.file_ops import FileOps
from sedna.core.base import JobBase, K8sResourceKind, K8sResourceKindStatus, resolve_callback
from sedna.core.lifelong_learning.edge import DEFAULT_POLL_PERIOD, IndexWatcher, UnseenReporter
from sedna.core.lifelong_learning.methods import (
    DEFAULT_METHODS,
    STEPS,
    MethodSpec,
    build_step,
    method_spec,
    resolve_allocation,
    resolve_estimators,
)
from sedna.core.lifelong_learning.quality import (
    UnseenFlags,
    as_result,
    metric_functions,
    quality_summary,
    sample_keys,
)

__all__ = ["LifelongLearning", "UnseenFlags"]

_OPERATORS = {">": op.gt, ">=": op.ge, "<": op.lt, "<=": op.le, "==": op.eq, "=": op.eq, "!=": op.ne}
# allocations that never read attribute columns although they do not say so themselves
_FEATURE_ALLOCATIONS = {"TaskAllocationByMarket"}


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


def _keep_previous_tasks(
    groups: list[TaskGroup], extractor: Any, previous: dict[str, Any] | None
) -> tuple[list[TaskGroup], Any]:
    """The new round's task groups plus the previous index's tasks it had no samples of, with
    the extractor re-numbered: lifelong learning must not forget a task because a round (say,
    one of collected unseen samples) did not see it. Only extractors that map task entries to
    indexes (attribute and origin definitions) can take old tasks; others start afresh."""
    if not previous or not isinstance(extractor, dict):
        return groups, extractor
    new_entries = {g.entry for g in groups}
    kept = [g for g in previous.get("task_groups", []) if g.entry not in new_entries and g.model is not None]
    if not kept:
        return groups, extractor
    merged = [*groups, *kept]
    renumbered = copy.copy(extractor)
    renumbered.clear()
    renumbered.update({g.entry: i for i, g in enumerate(merged)})
    return merged, renumbered


class LifelongLearning(JobBase):
    """Sedna's ``LifelongLearning`` with the constructor of every release (0.3 to HEAD).

    :param seen_estimator: the estimator (class or instance) of the task models; Sedna 0.3-0.5
        called it ``estimator=``, which is accepted too.
    :param unseen_estimator: answers unseen samples: an estimator (``predict``), or a callable
        called with no arguments whose return value is the answer (Sedna 0.6+); None: the
        global model answers.
    :param task_definition, task_relationship_discovery, task_allocation, task_remodeling,
        inference_integrate, task_update_decision, unseen_task_allocation,
        unseen_sample_recognition, unseen_sample_re_recognition: the pipeline steps, each a name,
        a ``{"method", "param"}`` dict (``param`` a dict or a JSON string) or a class.
    :param task_mining: Sedna 0.3-0.5's name of ``task_allocation`` (mapped, paired with the
        definition when it names no method).
    :param unseen_task_detect: Sedna 0.3-0.5's task filter (``TaskAttrFilter``,
        ``ModelProbeFilter`` ..., a class or a callable) run after prediction as
        ``utd(tasks=, result=, **param)``.
    :param task_definition_param, relationship_discovery_param, task_mining_param,
        task_remodeling_param, inference_integrate_param, unseen_task_detect_param: Sedna 0.3's
        JSON-string params of the steps given by name.
    :param knowledge_base: a :class:`KnowledgeBase` to use instead of ``KB_BACKEND``'s.
    """

    job_kind_default = K8sResourceKind.LIFELONG_JOB

    def __init__(
        self,
        seen_estimator: Any = None,
        unseen_estimator: Any = None,
        task_definition: Any = None,
        task_relationship_discovery: Any = None,
        task_allocation: Any = None,
        task_remodeling: Any = None,
        inference_integrate: Any = None,
        task_update_decision: Any = None,
        unseen_task_allocation: Any = None,
        unseen_sample_recognition: Any = None,
        unseen_sample_re_recognition: Any = None,
        *,
        estimator: Any = None,
        task_mining: Any = None,
        unseen_task_detect: Any = None,
        task_definition_param: Any = None,
        relationship_discovery_param: Any = None,
        task_mining_param: Any = None,
        task_remodeling_param: Any = None,
        inference_integrate_param: Any = None,
        unseen_task_detect_param: Any = None,
        knowledge_base: KnowledgeBase | None = None,
    ) -> None:
        seen, self.unseen_estimator, task_definition = resolve_estimators(
            seen_estimator, estimator, unseen_estimator, task_definition
        )
        super().__init__(estimator=seen)
        self.job_kind = K8sResourceKind.LIFELONG_JOB
        given = {
            "task_definition": method_spec(task_definition, task_definition_param, "task_definition"),
            "task_relationship_discovery": method_spec(
                task_relationship_discovery, relationship_discovery_param, "relationship_discovery"
            ),
            "task_allocation": method_spec(task_allocation, None, "task_allocation"),
            "task_remodeling": method_spec(task_remodeling, task_remodeling_param, "task_remodeling"),
            "inference_integrate": method_spec(
                inference_integrate, inference_integrate_param, "inference_integrate"
            ),
            "task_update_decision": method_spec(task_update_decision, None, "task_update_decision"),
            "unseen_task_allocation": method_spec(unseen_task_allocation, None, "unseen_task_allocation"),
            "unseen_sample_recognition": method_spec(
                unseen_sample_recognition, None, "unseen_sample_recognition"
            ),
            "unseen_sample_re_recognition": method_spec(
                unseen_sample_re_recognition, None, "unseen_sample_re_recognition"
            ),
        }
        mining = method_spec(task_mining, task_mining_param, "task_mining")
        self.task_filter = method_spec(unseen_task_detect, unseen_task_detect_param, "unseen_task_detect")
        self.output_url = str(self.get_parameters("OUTPUT_URL", "/tmp"))
        self.min_train_sample = int(self.get_parameters("MIN_TRAIN_SAMPLE", "10"))
        self.kb_server = self.get_parameters("KB_SERVER")
        self.template = copy.deepcopy(self.estimator)
        self.kb: KnowledgeBase = knowledge_base or self._select_kb()
        explicit = {step for step, spec in given.items() if spec is not None}
        if mining is not None:
            explicit.add("task_allocation")
        self.methods = self._method_table(given, mining, explicit)
        self.index: dict[str, Any] | None = None
        #: the seen-task accuracy and unseen-task detection of the last :meth:`evaluate`
        self.quality: dict[str, Any] = {}
        self._model_cache: dict[str, Any] = {}
        #: knowledge-base indexes swapped in while inferring (the deployed index was replaced)
        self.hot_updates = 0
        self._watcher: IndexWatcher | None = None
        self._reporter: UnseenReporter | None = None

    def _method_table(
        self, given: dict[str, MethodSpec | None], mining: MethodSpec | None, explicit: set[str]
    ) -> dict[str, MethodSpec]:
        """Defaults, then a backend's own components and ``UTD_NAME``, then the caller's."""
        methods: dict[str, MethodSpec] = {}
        for step in STEPS:
            spec = given.get(step)
            if spec is not None and spec.method is not None:
                methods[step] = spec
            elif step in DEFAULT_METHODS:
                methods[step] = MethodSpec(DEFAULT_METHODS[step], spec.param if spec else {})
        methods["task_allocation"] = resolve_allocation(
            given["task_allocation"], mining, methods["task_definition"]
        )
        utd_env = self.parameters.get_algorithm_from_api("UTD")
        if utd_env and utd_env.get("method") in TASK_FILTERS:
            utd_env = {}  # Sedna 0.3-0.5's UTD_NAME named the task filter, not a recogniser
        if utd_env and "unseen_sample_recognition" not in explicit:
            methods["unseen_sample_recognition"] = (
                method_spec(utd_env) or methods["unseen_sample_recognition"]
            )
            explicit = explicit | {"unseen_sample_recognition"}
        # a backend may bring its own allocation / recognition; explicit choices win over them
        for step, method in getattr(self.kb, "pipeline_defaults", {}).items():
            if step not in explicit:
                methods[step] = method_spec(method) or methods[step]
        return methods

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

    def _image_shape(self) -> tuple[int, ...] | None:
        """The samples' image shape, when the job says its samples are images: the unseen
        recogniser's ``image_shape`` parameter, else ``SEDNA_LL_IMAGE_SHAPE``."""
        from sedna.algorithms.unseen_task_detection.orientation import image_shape_from

        spec = self.methods.get("unseen_sample_recognition")
        return image_shape_from(spec.param.get("image_shape") if spec is not None else None)

    def _pose_quantile(self) -> float:
        """The orientation check's threshold quantile: the recogniser's ``pose_quantile``
        parameter, else ``SEDNA_LL_POSE_QUANTILE``, else 0.97."""
        from sedna.algorithms.unseen_task_detection.orientation import pose_quantile_from

        spec = self.methods.get("unseen_sample_recognition")
        return pose_quantile_from(spec.param.get("pose_quantile") if spec is not None else None)

    def _build(self, type_name: str, step: str, **extra: Any) -> Any:
        return build_step(type_name, self.methods[step], **extra)

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
        if FileOps.is_remote(self.output_url):  # an s3 outputDir: the backend uploads the model
            url = FileOps.join_path(self.output_url, "models", f"{_safe(name)}.model")
            saved = est.save(url)
            return saved if isinstance(saved, str) and saved else url
        path = Path(self.output_url) / "models" / f"{_safe(name)}.model"
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = est.save(str(path))
        return saved if isinstance(saved, str) and os.path.exists(saved) else str(path)

    def _previous_index(self, force: bool = False) -> dict[str, Any] | None:
        initial_done = str(self.get_parameters("HAS_COMPLETED_INITIAL_TRAINING", "false")).lower() == "true"
        if not (initial_done or force):
            return None
        url = self.get_parameters("CLOUD_KB_INDEX") or FileOps.join_path(self.output_url, INDEX_FILE)
        try:
            return self.kb.load_index(url)
        except (OSError, pickle.UnpicklingError, EOFError):
            return None

    # -- train -------------------------------------------------------------------------------
    def train(
        self,
        train_data: Any,
        valid_data: Any = None,
        post_process: Any = None,
        action: str = "initial",
        **kwargs: Any,
    ) -> Any:
        """Define tasks, train one model per task group (plus the global model), write the
        index and report; returns the global estimator (or ``post_process(estimator)``).

        ``action="update"`` (Sedna 0.3-0.5) is :meth:`update`."""
        return self._train(train_data, valid_data, post_process, force_previous=action == "update", **kwargs)

    def update(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Train on new samples, keeping (or fine-tuning, with ``UpdateStrategyByFinetune``) the
        task models of the previous index (``CLOUD_KB_INDEX``, else ``OUTPUT_URL/index.pkl``)."""
        return self._train(train_data, valid_data, post_process, force_previous=True, **kwargs)

    def _train(
        self, train_data: Any, valid_data: Any, post_process: Any, force_previous: bool, **kwargs: Any
    ) -> Any:
        callback = resolve_callback(post_process)
        tasks, extractor, train_data = self._build(ClassType.STP, "task_definition")(as_samples(train_data))
        columns = attribute_columns(extractor)
        if valid_data is not None:
            valid_data = drop_columns(as_samples(valid_data), columns)
        groups: list[TaskGroup] = self._build(ClassType.STP, "task_relationship_discovery")(tasks)
        previous = self._previous_index(force_previous)
        prev_models = {
            g.entry: g.model for g in (previous or {}).get("task_groups", []) if g.model is not None
        }
        update = self._build(ClassType.KM, "task_update_decision", task_index=previous)
        to_train, finetune = update(groups)
        global_est = self._new_estimator()
        global_res = global_est.train(train_data=train_data, valid_data=valid_data, **kwargs)
        global_model = Model(
            index=-1, entry="global", model=self._save_model(global_est, "global"), result=global_res
        )
        context = {
            "to_train": {g.entry for g in to_train},
            "prev": prev_models,
            "finetune": finetune,
            "valid": valid_data,
            "global": (global_model, global_res),
        }
        merged = [g.entry for i, g in enumerate(groups) if self._train_group(i, g, context, **kwargs)]
        shape = self._image_shape()
        scale = fit_task_statistics(groups, image_shape=shape, pose_quantile=self._pose_quantile() if shape else None)
        groups, extractor = _keep_previous_tasks(groups, extractor, previous)
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
            "methods": {step: spec.record() for step, spec in self.methods.items()},
            "created_at": time.time(),
        }
        index_url = self.kb.save_index(self.index)
        self._upload_index(index_url)
        self._model_cache.clear()
        self.estimator = global_est
        results = [
            {
                "format": "pkl",
                "url": self._host_url(index_url),
                "metrics": {g.entry: g.sample_num for g in groups},
            }
        ]
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED, results, kind="train")
        return callback(self.estimator) if callback else self.estimator

    def _train_group(self, i: int, group: TaskGroup, context: dict[str, Any], **kwargs: Any) -> bool:
        """Give ``group`` its model; True when it is too small and answered by the global model."""
        n = sample_count(group.samples)
        group.sample_num = n
        meta = group.tasks[0].meta_attr if group.tasks else None
        global_model, global_res = context["global"]
        if n <= self.min_train_sample:
            group.model = Model(i, group.entry, global_model.model, global_res, meta)
            return True
        prev = context["prev"]
        if group.entry not in context["to_train"] and group.entry in prev:
            group.model = prev[group.entry]
            return False
        est = self._new_estimator()
        if context["finetune"] and group.entry in prev:
            est.load(prev[group.entry].model)
        res = est.train(train_data=group.samples, valid_data=context["valid"], **kwargs)
        url = self._save_model(est, group.entry)
        group.model = Model(index=i, entry=group.entry, model=url, result=res, meta_attr=meta)
        if hasattr(self.kb, "add_task_model"):
            self.kb.add_task_model(group, url)
        return False

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
            first = next((u for u in str(urls).split(";") if u.strip()), None) if urls else None
            self.index = self.kb.load_index(first)
        return self.index

    def _group_models(self, index: dict[str, Any], deployed_only: bool) -> list[Any]:
        out: list[Any] = []
        for g in index["task_groups"]:
            if g.model is None or (deployed_only and not g.deploy):
                out.append(None)
            else:
                out.append(self._load_model(g.model.model))
        return out

    def _allocate(self, index: dict[str, Any], samples: Any) -> tuple[Any, list[int]]:
        """(samples without the attribute columns, task group per sample; -1: none)."""
        columns = attribute_columns(index["extractor"])
        alloc = self._build(
            ClassType.STP,
            "task_allocation",
            task_extractor=index["extractor"],
            task_groups=index["task_groups"],
        )
        name = self.methods["task_allocation"].name
        wants = getattr(alloc, "needs_attributes", name not in _FEATURE_ALLOCATIONS)
        allocated, mapping = alloc(samples if wants else drop_columns(samples, columns))
        return drop_columns(allocated, columns), [int(m) for m in mapping]

    def _task_meta(self, index: dict[str, Any], m: int, part_full: Any) -> Any:
        """The meta attribute of the samples served as task ``m``: the group's for a known task,
        else the samples' own attribute values (so a task filter sees them differ)."""
        if 0 <= m < len(index["task_groups"]):
            group = index["task_groups"][m]
            return group.tasks[0].meta_attr if group.tasks else None
        columns = present_columns(part_full, attribute_columns(index["extractor"]))
        if not columns:
            return None
        return dict(zip(columns, part_full.x[columns].iloc[0].tolist(), strict=True))

    def _predict_seen(
        self, index: dict[str, Any], samples: Any, deployed_only: bool, **kwargs: Any
    ) -> tuple[Any, list[Task], list[np.ndarray]]:
        """(results in order, one Task per served task, the positions each Task holds)."""
        models = self._group_models(index, deployed_only)
        global_est = self._load_model(index["global_model"].model)
        plain, mapping = self._allocate(index, samples)
        remodel = self._build(ClassType.STP, "task_remodeling", models=models, fallback=global_est)
        data, ests, indices = remodel(plain, mapping)
        tasks: list[Task] = []
        for part, est, idx in zip(data, ests, indices, strict=True):
            m = mapping[int(idx[0])]
            known = 0 <= m < len(models) and models[m] is not None
            group_model = index["task_groups"][m].model if known else index["global_model"]
            served = Model(
                group_model.index, group_model.entry, est, group_model.result, group_model.meta_attr
            )
            meta = self._task_meta(index, m if known else -1, subset(samples, idx))
            entry = index["task_groups"][m].entry if known else "global"
            pred = est.predict(part.x, **kwargs)
            tasks.append(Task(entry=entry, samples=part, result=pred, model=served, meta_attr=meta))
        integrate = self._build(ClassType.STP, "inference_integrate", models=models)
        return (
            integrate(tasks, indices, sample_count(samples)),
            tasks,
            [np.asarray(i, dtype=int) for i in indices],
        )

    def _recognise(self, index: dict[str, Any], samples: Any) -> np.ndarray:
        """Mask of the samples the unseen-sample recogniser calls unseen."""
        plain = drop_columns(samples, attribute_columns(index["extractor"]))
        recogniser = self._build(ClassType.UTD, "unseen_sample_recognition", task_index=index)
        _, unseen = recogniser(plain)
        mask = np.zeros(sample_count(samples), dtype=bool)
        if hasattr(recogniser, "unseen_index"):
            mask[np.asarray(recogniser.unseen_index, dtype=int)] = True
        elif sample_count(unseen):  # a recogniser of the user's own: the unseen ones come last
            mask[-sample_count(unseen) :] = True
        return mask

    # -- evaluate ----------------------------------------------------------------------------
    def evaluate(
        self,
        data: Any,
        post_process: Any = None,
        metrics: Any = None,
        metrics_param: dict[str, Any] | None = None,
        split_ratio: float | None = None,
        **kwargs: Any,
    ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Score every task model on its allocated samples, decide which tasks deploy, report.

        ``metrics``: a callable ``(y_true, y_pred) -> float``, the name of a ``sklearn.metrics``
        function, a list of those or a ``{name: callable}`` dict (the first decides); None: the
        estimator's own ``evaluate``. ``metrics_param`` goes to every metric function.
        ``model_threshold=`` (Sedna 0.3's keyword) overrides the env value; ``split_ratio`` is
        accepted for Sedna compatibility and not used.

        Quality, reported beside the task scores (result key ``quality``): the seen-task
        accuracy (exact-match accuracy of every sample of a known task, answered by its task
        model) and the unseen-task detection (samples of no known task, e.g. an attribute value
        no task was trained on, against the recogniser's verdicts): precision, recall and F1.

        Returns ``(scores by task entry, task details)``.
        """
        callback = resolve_callback(post_process)
        index = self._serving_index()
        samples = as_samples(data)
        plain, mapping_list = self._allocate(index, samples)
        mapping = np.asarray(mapping_list, dtype=int)
        models = self._group_models(index, deployed_only=False)
        global_est = self._load_model(index["global_model"].model)
        scorers = metric_functions(metrics, metrics_param or {})
        drop = self._drop_rule(kwargs.pop("model_threshold", None))
        scores: dict[str, float] = {}
        details: list[dict[str, Any]] = []
        predictions: dict[int, Any] = {}
        for i, group in enumerate(index["task_groups"]):
            idx = np.flatnonzero(mapping == i)
            if len(idx) == 0:
                group.deploy = False
                details.append({"entry": group.entry, "samples": 0, "metrics": None, "deploy": False})
                continue
            part = subset(plain, idx)
            est = models[i] if models[i] is not None else global_est
            pred = est.predict(part.x)
            predictions.update(zip(idx.tolist(), list(pred), strict=True))
            task_scores = self._score(est, part, pred, scorers, **kwargs)
            scores[group.entry] = next(iter(task_scores.values()))
            group.deploy = not drop(scores[group.entry])
            details.append(
                {
                    "entry": group.entry,
                    "samples": int(len(idx)),
                    "metrics": scores[group.entry],
                    "all_metrics": task_scores,
                    "deploy": group.deploy,
                }
            )
        quality = quality_summary(
            getattr(samples, "y", None), predictions, mapping, self._recognise(index, samples)
        )
        deploy_url = self.kb.save_index(index, name=f"deploy/{INDEX_FILE}")
        results = [
            {"format": "pkl", "url": self._host_url(deploy_url), "metrics": scores, "quality": quality}
        ]
        self.report_task_info(None, K8sResourceKindStatus.COMPLETED, results, kind="eval")
        self.quality = quality
        if callback:
            return callback(scores), details
        return scores, details

    def _drop_rule(self, threshold: Any = None) -> Any:
        """``score -> drop?``: Sedna's ``operator`` env (unknown values mean ``<``) against
        ``model_threshold``; without ``operator``, drop what scores below the threshold."""
        limit = float(threshold if threshold is not None else self.get_parameters("model_threshold", "0.1"))
        name = self.get_parameters("operator")
        compare = _OPERATORS.get(str(name).strip(), op.lt) if name else op.lt
        return lambda score: bool(compare(score, limit))

    @staticmethod
    def _score(est: Any, part: Any, pred: Any, scorers: dict[str, Any], **kwargs: Any) -> dict[str, float]:
        if not scorers:
            own = est.evaluate(part, **kwargs)
            if own is not None:
                return {"score": _first_score(own)}
            # Sedna's default metric, precision_score(average="micro"): accuracy for single labels
            return {"precision_score": float(np.mean(np.asarray(pred) == np.asarray(part.y)))}
        return {name: float(fn(part.y, pred)) for name, fn in scorers.items()}

    # -- inference ---------------------------------------------------------------------------
    def inference(
        self, data: Any = None, post_process: Any = None, unseen_sample_postprocess: Any = None, **kwargs: Any
    ) -> tuple[Any, Any, list[Task]]:
        """Returns ``(result, is_unseen_task, tasks)``.

        ``result``: the answers in input order. ``is_unseen_task``: for one sample a bool; for a
        batch Sedna 0.6's per-sample ``{key: bool}`` (:class:`UnseenFlags`, keyed by each
        sample's name or position) whose truth value is "any sample unseen", which is what
        0.3-0.5 scripts test. ``tasks``: the per-task pieces, an ``unseen`` task included.
        ``unseen_sample_postprocess(sample, directory)`` (0.6+) saves each unseen sample.
        """
        callback = resolve_callback(post_process)
        index = self._serving_index()
        samples = as_samples(data)
        total = sample_count(samples)
        unseen_mask = self._recognise(index, samples)
        seen_idx, unseen_idx = np.flatnonzero(~unseen_mask), np.flatnonzero(unseen_mask)
        out: list[Any] = [None] * total
        tasks: list[Task] = []
        if len(seen_idx):
            seen_res, tasks, positions = self._predict_seen(index, subset(samples, seen_idx), True, **kwargs)
            for pos, value in zip(seen_idx, list(seen_res), strict=True):
                out[int(pos)] = value
            self._apply_task_filter(tasks, seen_res, [seen_idx[p] for p in positions], unseen_mask)
        if len(unseen_idx):
            unseen = subset(drop_columns(samples, attribute_columns(index["extractor"])), unseen_idx)
            pred = self._predict_unseen(index, unseen, **kwargs)
            for pos, value in zip(unseen_idx, pred, strict=True):
                out[int(pos)] = value
            model = "global" if self.unseen_estimator is None else self.unseen_estimator
            tasks.append(Task(entry="unseen", samples=unseen, result=pred, model=model))
            self._save_unseen(unseen, unseen_sample_postprocess)
        self._count(total, len(unseen_idx))
        result = as_result(out)
        if callback:
            result = callback(result)
        if total == 1:
            return result, bool(unseen_mask[0]), tasks
        return result, UnseenFlags.of(sample_keys(samples), unseen_mask), tasks

    def _serving_index(self) -> dict[str, Any]:
        """The deployed index, swapped for a new one when the LC has replaced the file (Sedna's
        edge hot update; ``MODEL_POLL_PERIOD_SECONDS`` between checks, default 30)."""
        if self._watcher is None:
            index = self._ensure_index()
            urls = str(self.get_parameters("MODEL_URLS") or "")
            first = next((u.strip() for u in urls.split(";") if u.strip()), None)
            period = float(self.get_parameters("MODEL_POLL_PERIOD_SECONDS", str(DEFAULT_POLL_PERIOD)))
            self._watcher = IndexWatcher(first, period)
            self._watcher.mark_loaded()
            return index
        if self._watcher.changed():
            path = self._watcher.path
            try:
                fresh = self.kb.load_index(path)
            except Exception as err:  # a bad deploy must not stop the service: keep the old one
                self.log.error("knowledge base %s not swapped in: %s", path, err)
                self._watcher.mark_loaded()
                return self._ensure_index()
            self.index = fresh
            self._model_cache.clear()
            self._watcher.mark_loaded()
            self.hot_updates += 1
            self.log.info("knowledge base hot-updated from %s: %d task groups", path, len(fresh["task_groups"]))
        return self._ensure_index()

    def _count(self, samples: int, unseen: int) -> None:
        if self._reporter is None:
            self._reporter = UnseenReporter(self, float(self.get_parameters("LC_PERIOD", "30")))
            self._reporter.start()
        self._reporter.count(samples, unseen)

    def _apply_task_filter(
        self, tasks: list[Task], result: Any, positions: list[np.ndarray], mask: np.ndarray
    ) -> None:
        """Run the 0.3-0.5 ``unseen_task_detect`` filter, if one was given, and mark the samples
        of the tasks it calls unseen (all seen samples when it answers for the batch only)."""
        if self.task_filter is None or not tasks:
            return
        spec = self.task_filter
        method = spec.method
        if isinstance(method, str):
            method = ClassFactory.get_cls(ClassType.UTD, method)
        detector = method() if isinstance(method, type) else method
        verdict = detector(tasks=tasks, result=result, **spec.param)
        flags = getattr(detector, "task_flags", None)
        if isinstance(verdict, list | tuple | np.ndarray) and len(verdict) == len(tasks):
            flags = [bool(v) for v in verdict]
        if flags is None or len(flags) != len(tasks):
            flags = [bool(verdict)] * len(tasks)
        for flag, pos in zip(flags, positions, strict=True):
            if flag:
                mask[pos] = True

    def _predict_unseen(self, index: dict[str, Any], unseen: Any, **kwargs: Any) -> list[Any]:
        allocator = self._build(ClassType.UTP, "unseen_task_allocation", task_extractor=index["extractor"])
        allocator(unseen)
        n = sample_count(unseen)
        answer = self.unseen_estimator
        if answer is None:
            answer = self._load_model(index["global_model"].model)
        elif not callable(getattr(answer, "predict", None)):
            answer = answer()  # Sedna 0.6+: a callable unseen_estimator is called with no args
        if callable(getattr(answer, "predict", None)):
            return list(answer.predict(unseen.x, **kwargs))
        if isinstance(answer, list | tuple | np.ndarray) and len(answer) == n:
            return list(answer)
        return [answer] * n

    def _save_unseen(self, unseen: Any, postprocess: Any = None) -> None:
        target = self.get_parameters("unseen_save_url")
        if postprocess is not None:
            directory = str(target or Path(self.output_url) / "unseen_samples")
            os.makedirs(directory, exist_ok=True)
            x = unseen.x
            rows = (x.iloc[i] for i in range(len(x))) if hasattr(x, "iloc") else iter(x)
            for sample in rows:
                postprocess(sample, directory)
            return
        if not target:
            return
        path = Path(target) / f"unseen-{time.time_ns()}.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump({"x": unseen.x, "y": getattr(unseen, "y", None)}, fh)
