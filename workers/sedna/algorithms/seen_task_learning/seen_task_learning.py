"""Seen-task processing (ClassType.STP): task definition, relation discovery, allocation,
remodeling and integration, under Sedna's aliases.

Every definition returns ``(tasks, task_extractor, samples)``; every allocation is built with
the extractor and returns ``(samples, allocations)`` where ``allocations[i]`` is the index of
the task (group) of sample ``i``, ``-1`` when none fits (the global model then answers; Sedna
answered with task 0).

The attribute-based pair (``TaskDefinitionByDataAttr`` / ``TaskAllocationByDataAttr``) drops
the attribute columns from the samples it returns, as Sedna does: the task models never see
them. Allocations that read attribute columns say so with ``needs_attributes = True``; the
lifelong-learning job hands the others samples without those columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import (
    Task,
    TaskGroup,
    drop_columns,
    features,
    present_columns,
    subset,
)
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = [
    "AttributeExtractor",
    "attribute_columns",
    "TaskDefinitionByDataAttr",
    "TaskDefinitionBySVC",
    "TaskDefinitionByOrigin",
    "DefaultTaskRelationDiscover",
    "TaskAllocationByDataAttr",
    "TaskAllocationBySVC",
    "TaskAllocationDefault",
    "TaskAllocationStream",
    "TaskAllocationByOrigin",
    "DefaultTaskRemodeling",
    "DefaultInferenceIntegrate",
]


def _attr_part(value: Any) -> str:
    # Sedna's entry naming: inner "_" become "-" (the joiner stays unambiguous), spaces go
    return str(value).replace("_", "-").replace(" ", "")


def _attr_key(values: Any) -> str:
    """Sedna's task entry of one attribute combination: the values joined by ``_``."""
    if isinstance(values, tuple):
        return "_".join(_attr_part(v) for v in values)
    return _attr_part(values)


def _as_columns(attribute: Any) -> list[str]:
    if isinstance(attribute, str):
        return [a.strip() for a in attribute.split(",") if a.strip()]
    return [str(a) for a in (attribute or [])]


class AttributeExtractor(dict):
    """Sedna's extractor of the attribute-based definition, ``{entry: task index}``, that also
    remembers its ``attribute`` columns (so allocation and the job can drop them)."""

    def __init__(self, mapping: dict[str, int] | None = None, attribute: Iterable[str] = ()) -> None:
        super().__init__(mapping or {})
        self.attribute = list(attribute)


def attribute_columns(extractor: Any, given: Any = None) -> list[str]:
    """The attribute columns of a task extractor: ``given`` (an allocation's own ``attribute``
    param), else the extractor's; also reads the ``{"attribute", "mapping"}`` dicts of indexes
    written before :class:`AttributeExtractor`."""
    if given:
        return _as_columns(given)
    attribute = getattr(extractor, "attribute", None)
    if attribute is None and isinstance(extractor, dict) and isinstance(extractor.get("mapping"), dict):
        attribute = extractor.get("attribute")
    return _as_columns(attribute)


def _extractor_mapping(extractor: Any) -> dict[str, int]:
    if isinstance(extractor, dict) and isinstance(extractor.get("mapping"), dict):
        return dict(extractor["mapping"])
    return dict(extractor or {})


def _attribute_keys(x: Any, columns: list[str]) -> list[str]:
    return [_attr_key(tuple(row)) for row in x[columns].itertuples(index=False)]


@ClassFactory.register(ClassType.STP, alias="TaskDefinitionByDataAttr")
class TaskDefinitionByDataAttr:
    """One task per distinct value combination of the ``attribute`` columns of ``samples.x``
    (a DataFrame). The extractor maps the combination's entry to the task index; the returned
    samples (and each task's) no longer hold the attribute columns, as in Sedna."""

    def __init__(self, attribute: list[str] | str | None = None, **kwargs: Any) -> None:
        self.attribute = _as_columns(attribute)

    def __call__(self, samples: Any) -> tuple[list[Task], AttributeExtractor, Any]:
        x = samples.x
        if not self.attribute:
            raise ValueError("TaskDefinitionByDataAttr needs 'attribute' columns")
        missing = [c for c in self.attribute if c not in getattr(x, "columns", [])]
        if missing:
            raise ValueError(f"TaskDefinitionByDataAttr: the samples have no column(s) {missing}")
        keys = _attribute_keys(x, self.attribute)
        attrs = x[self.attribute]
        plain = drop_columns(samples, self.attribute)
        plain.meta_attr = attrs.to_numpy()  # per sample, as Sedna keeps them
        mapping: dict[str, int] = {}
        tasks: list[Task] = []
        for key in dict.fromkeys(keys):  # first-seen order, deterministic
            idx = [i for i, k in enumerate(keys) if k == key]
            mapping[key] = len(tasks)
            meta = dict(zip(self.attribute, attrs.iloc[idx[0]].tolist(), strict=True))
            tasks.append(Task(entry=key, samples=subset(plain, idx), meta_attr=meta))
        return tasks, AttributeExtractor(mapping, self.attribute), plain


@ClassFactory.register(ClassType.STP, alias="TaskDefinitionBySVC")
class TaskDefinitionBySVC:
    """Clusters the features into ``n_class`` tasks (agglomerative clustering), then fits an
    ``SVC(gamma=0.01)`` on the cluster labels as the extractor for allocation."""

    def __init__(self, n_class: int = 2, **kwargs: Any) -> None:
        self.n_class = max(2, int(n_class))

    def __call__(self, samples: Any) -> tuple[list[Task], Any, Any]:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.svm import SVC

        x = features(samples.x)
        labels = AgglomerativeClustering(n_clusters=self.n_class).fit_predict(x)
        extractor = SVC(gamma=0.01).fit(x, labels)
        tasks = [
            Task(entry=f"svc_{c}", samples=subset(samples, np.flatnonzero(labels == c)), meta_attr=int(c))
            for c in range(self.n_class)
            if np.any(labels == c)
        ]
        return tasks, extractor, samples


def _origins_of(samples: Any, default: str | None) -> list[str]:
    meta = getattr(samples, "meta_attr", None)
    n = len(samples.x)
    if meta is not None and not isinstance(meta, str) and hasattr(meta, "__len__") and len(meta) == n:
        return [str(m) for m in meta]
    return [str(meta if isinstance(meta, str) else default)] * n


def _origins_by_city(samples: Any, origins: list[str], city: str) -> list[str] | None:
    """Sedna's cityscapes rule: a sample whose label names ``city`` is of the first origin,
    any other of the last. None when the samples have no labels to read."""
    y = getattr(samples, "y", None)
    if y is None or len(origins) < 1:
        return None
    return [origins[0] if city in str(label) else origins[-1] for label in y]


@ClassFactory.register(ClassType.STP, alias="TaskDefinitionByOrigin")
class TaskDefinitionByOrigin:
    """One task per sample origin (``samples.meta_attr``: one origin per sample or one for all,
    else the ``origin`` argument). ``origins`` (Sedna: ``attribute="real, sim"``) fixes the task
    order; with Sedna's ``city``, a sample whose label names that city is of the first origin."""

    def __init__(
        self,
        origins: list[str] | str | None = None,
        origin: str = "real",
        attribute: list[str] | str | None = None,
        city: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.origins = _as_columns(origins if origins is not None else attribute) or ["real", "sim"]
        self.origin = origin
        self.city = city

    def __call__(self, samples: Any) -> tuple[list[Task], dict[str, int], Any]:
        by_city = _origins_by_city(samples, self.origins, self.city) if self.city else None
        per_sample = by_city or _origins_of(samples, self.origin)
        order = self.origins + [o for o in dict.fromkeys(per_sample) if o not in self.origins]
        tasks: list[Task] = []
        mapping: dict[str, int] = {}
        for origin in order:
            idx = [i for i, o in enumerate(per_sample) if o == origin]
            if idx:
                mapping[origin] = len(tasks)
                tasks.append(Task(entry=origin, samples=subset(samples, idx), meta_attr=origin))
        return tasks, mapping, samples


@ClassFactory.register(ClassType.STP, alias="DefaultTaskRelationDiscover")
class DefaultTaskRelationDiscover:
    """Each task is its own group."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def __call__(self, tasks: list[Task]) -> list[TaskGroup]:
        return [TaskGroup(entry=t.entry, tasks=[t], samples=t.samples) for t in tasks]


class _Allocation:
    #: whether the allocation reads the attribute columns (the job then keeps them in)
    needs_attributes = False

    def __init__(self, task_extractor: Any = None, **kwargs: Any) -> None:
        self.task_extractor = task_extractor
        self.kwargs = kwargs


@ClassFactory.register(ClassType.STP, alias="TaskAllocationByDataAttr")
class TaskAllocationByDataAttr(_Allocation):
    """Looks up the attribute combination of each sample; unknown combinations (and samples
    without the attribute columns) get ``-1``. Returns the samples without those columns."""

    needs_attributes = True

    def __call__(self, samples: Any) -> tuple[Any, list[int]]:
        columns = attribute_columns(self.task_extractor, self.kwargs.get("attribute"))
        mapping = _extractor_mapping(self.task_extractor)
        if not columns or len(present_columns(samples, columns)) < len(columns):
            return drop_columns(samples, columns), [-1] * len(samples.x)
        keys = _attribute_keys(samples.x, columns)
        return drop_columns(samples, columns), [int(mapping.get(k, -1)) for k in keys]


@ClassFactory.register(ClassType.STP, alias="TaskAllocationBySVC")
class TaskAllocationBySVC(_Allocation):
    """The SVC extractor predicts the task of each sample."""

    def __call__(self, samples: Any) -> tuple[Any, list[int]]:
        if len(samples.x) == 0:
            return samples, []
        return samples, [int(v) for v in self.task_extractor.predict(features(samples.x))]


@ClassFactory.register(ClassType.STP, alias="TaskAllocationDefault")
class TaskAllocationDefault(_Allocation):
    """Every sample to task 0."""

    def __call__(self, samples: Any) -> tuple[Any, list[int]]:
        return samples, [0] * len(samples.x)


@ClassFactory.register(ClassType.STP, alias="TaskAllocationStream")
class TaskAllocationStream(_Allocation):
    """Sample by sample, the task group whose training-feature centroid is nearest (Euclidean).

    Needs ``task_groups`` (with centroids) from the index; works for any numeric features,
    so it also serves extractors that cannot label new data.
    """

    def __init__(self, task_extractor: Any = None, task_groups: list[TaskGroup] | None = None, **kwargs: Any):
        super().__init__(task_extractor, **kwargs)
        self.task_groups = task_groups or []

    def __call__(self, samples: Any) -> tuple[Any, list[int]]:
        cents = [(i, g.centroid) for i, g in enumerate(self.task_groups) if g.centroid is not None]
        if not cents or len(samples.x) == 0:
            return samples, [0] * len(samples.x)
        x = features(samples.x)
        mat = np.stack([c for _, c in cents])
        dist = ((x[:, None, :] - mat[None, :, :]) ** 2).sum(-1)
        return samples, [int(cents[j][0]) for j in dist.argmin(1)]


@ClassFactory.register(ClassType.STP, alias="TaskAllocationByOrigin")
class TaskAllocationByOrigin(_Allocation):
    """The task of the sample's origin (``samples.meta_attr`` or ``origin``), else ``default``."""

    needs_attributes = True  # reads samples.meta_attr, which the job keeps with the full samples

    def __init__(self, task_extractor: Any = None, origins: Any = None, default: str | None = None, **kwargs: Any):
        super().__init__(task_extractor, **kwargs)
        self.default = default
        self.origin = kwargs.get("origin", default)

    def __call__(self, samples: Any) -> tuple[Any, list[int]]:
        mapping = self.task_extractor or {}
        per_sample = _origins_of(samples, self.origin)
        fallback = int(mapping.get(str(self.default), -1)) if self.default is not None else -1
        return samples, [int(mapping.get(o, fallback)) for o in per_sample]


@ClassFactory.register(ClassType.STP, alias="DefaultTaskRemodeling")
class DefaultTaskRemodeling:
    """Splits samples by allocation: returns ``(groups of samples, models)`` aligned, one entry
    per allocated task; ``-1`` (or an unknown index) maps to the fallback model."""

    def __init__(self, models: list[Any], fallback: Any = None, **kwargs: Any) -> None:
        self.models = models
        self.fallback = fallback if fallback is not None else (models[0] if models else None)

    def __call__(self, samples: Any, mappings: list[int]) -> tuple[list[Any], list[Any], list[np.ndarray]]:
        mappings_arr = np.asarray(mappings, dtype=int)
        data, models, indices = [], [], []
        for m in sorted(set(mappings_arr.tolist())):
            idx = np.flatnonzero(mappings_arr == m)
            model = self.models[m] if 0 <= m < len(self.models) and self.models[m] is not None else self.fallback
            data.append(subset(samples, idx))
            models.append(model)
            indices.append(idx)
        return data, models, indices


@ClassFactory.register(ClassType.STP, alias="DefaultInferenceIntegrate")
class DefaultInferenceIntegrate:
    """Puts per-task results back in the original sample order."""

    def __init__(self, models: Any = None, **kwargs: Any) -> None:
        self.models = models

    def __call__(self, tasks: list[Task], indices: list[np.ndarray] | None = None, total: int | None = None) -> Any:
        if indices is None:
            out: list[Any] = []
            for t in tasks:
                out.extend(list(t.result))
            return np.asarray(out)
        n = total if total is not None else int(sum(len(i) for i in indices))
        out_list: list[Any] = [None] * n
        for task, idx in zip(tasks, indices, strict=True):
            for pos, value in zip(idx, list(task.result), strict=True):
                out_list[int(pos)] = value
        try:
            return np.asarray(out_list)
        except ValueError:
            return out_list
