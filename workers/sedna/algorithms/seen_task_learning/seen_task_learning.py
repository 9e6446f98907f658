"""Seen-task processing (ClassType.STP): task definition, relation discovery, allocation,
remodeling and integration, under Sedna's aliases.

Every definition returns ``(tasks, task_extractor, samples)``; every allocation is built with
the extractor and returns ``(samples, allocations)`` where ``allocations[i]`` is the index of
the task (group) of sample ``i``, ``-1`` when none fits (the global model then answers).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.seen_task_learning.artifact import Task, TaskGroup, features, subset
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = [
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


def _attr_key(values: Any) -> str:
    if isinstance(values, tuple):
        return "_".join(str(v) for v in values)
    return str(values)


@ClassFactory.register(ClassType.STP, alias="TaskDefinitionByDataAttr")
class TaskDefinitionByDataAttr:
    """One task per distinct value combination of the ``attribute`` columns of ``samples.x``
    (a DataFrame). The extractor maps the combination key to the task index."""

    def __init__(self, attribute: list[str] | str | None = None, **kwargs: Any) -> None:
        if isinstance(attribute, str):
            attribute = [a.strip() for a in attribute.split(",") if a.strip()]
        self.attribute = list(attribute or [])

    def __call__(self, samples: Any) -> tuple[list[Task], dict[str, int], Any]:
        x = samples.x
        if not self.attribute:
            raise ValueError("TaskDefinitionByDataAttr needs 'attribute' columns")
        keys = [_attr_key(tuple(row)) for row in x[self.attribute].itertuples(index=False)]
        extractor: dict[str, int] = {}
        tasks: list[Task] = []
        for key in dict.fromkeys(keys):  # first-seen order, deterministic
            idx = [i for i, k in enumerate(keys) if k == key]
            extractor[key] = len(tasks)
            meta = dict(zip(self.attribute, x[self.attribute].iloc[idx[0]].tolist(), strict=True))
            tasks.append(Task(entry=key, samples=subset(samples, idx), meta_attr=meta))
        return tasks, {"attribute": self.attribute, "mapping": extractor}, samples


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


@ClassFactory.register(ClassType.STP, alias="TaskDefinitionByOrigin")
class TaskDefinitionByOrigin:
    """One task per sample origin (``samples.meta_attr``: one origin per sample or one for all,
    else the ``origin`` argument). ``origins`` fixes the task order."""

    def __init__(self, origins: list[str] | str | None = None, origin: str = "real", **kwargs: Any) -> None:
        if isinstance(origins, str):
            origins = [o.strip() for o in origins.split(",")]
        self.origins = list(origins or ["real", "sim"])
        self.origin = origin

    def __call__(self, samples: Any) -> tuple[list[Task], dict[str, int], Any]:
        per_sample = _origins_of(samples, self.origin)
        order = self.origins + [o for o in dict.fromkeys(per_sample) if o not in self.origins]
        tasks, mapping = [], {}
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
    def __init__(self, task_extractor: Any = None, **kwargs: Any) -> None:
        self.task_extractor = task_extractor
        self.kwargs = kwargs


@ClassFactory.register(ClassType.STP, alias="TaskAllocationByDataAttr")
class TaskAllocationByDataAttr(_Allocation):
    """Looks up the attribute combination of each sample; unknown combinations get ``-1``."""

    def __call__(self, samples: Any) -> tuple[Any, list[int]]:
        ext = self.task_extractor or {}
        attribute = self.kwargs.get("attribute") or ext.get("attribute")
        if isinstance(attribute, str):
            attribute = [a.strip() for a in attribute.split(",")]
        mapping = ext.get("mapping", ext)
        rows = samples.x[list(attribute)].itertuples(index=False)
        return samples, [int(mapping.get(_attr_key(tuple(r)), -1)) for r in rows]


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
