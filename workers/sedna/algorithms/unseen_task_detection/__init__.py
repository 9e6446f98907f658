"""Unseen-task detection (ClassType.UTD), under Sedna's spelling of the aliases.

Two kinds live in this registry, as in Sedna:

* **sample recognisers** (0.6+): built with the task index and called with samples; they return
  ``(seen_samples, unseen_samples)`` (data sources of the same kind) and record the positions of
  each in ``seen_index`` / ``unseen_index`` so results can be put back in order.
* **task filters** (0.3-0.5's ``unseen_task_detect``): built with no arguments and called after
  prediction as ``utd(tasks=..., result=..., **param)``; they return one bool for the batch
  (True: an unseen task) and keep the per-task verdicts in ``task_flags``. 0.3 registered them
  as ``ModelProbe`` / ``TaskAttr``, 0.4+ as ``ModelProbeFilter`` / ``TaskAttrFilter``: all four
  names are registered here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.knowledge_management.knowledge_base import LocalKnowledgeBase
from sedna.algorithms.seen_task_learning.artifact import sample_count, subset
from sedna.algorithms.unseen_task_detection.orientation import with_orientation
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = [
    "SampleRegonitionDefault",
    "SampleReRegonitionDefault",
    "SampleRegonitionByDistance",
    "ModelProbeFilter",
    "TaskAttrFilter",
    "TASK_FILTERS",
]

#: the 0.3-0.5 task filters by every name Sedna registered them under
TASK_FILTERS = ("ModelProbeFilter", "TaskAttrFilter", "ModelProbe", "TaskAttr")


class _Recognition:
    def __init__(self, task_index: Any = None, **kwargs: Any) -> None:
        self.task_index = task_index or {}
        self.kwargs = kwargs
        self.seen_index = np.zeros(0, dtype=int)
        self.unseen_index = np.zeros(0, dtype=int)

    def _split(self, samples: Any, unseen_mask: np.ndarray) -> tuple[Any, Any]:
        self.seen_index = np.flatnonzero(~unseen_mask)
        self.unseen_index = np.flatnonzero(unseen_mask)
        return subset(samples, self.seen_index), subset(samples, self.unseen_index)


@ClassFactory.register(ClassType.UTD, alias="SampleRegonitionDefault")
class SampleRegonitionDefault(_Recognition):
    """Sedna's default: every sample is seen."""

    def __call__(self, samples: Any, **kwargs: Any) -> tuple[Any, Any]:
        return self._split(samples, np.zeros(sample_count(samples), dtype=bool))


@ClassFactory.register(ClassType.UTD, alias="SampleReRegonitionDefault")
class SampleReRegonitionDefault(_Recognition):
    """Re-recognition of samples found unseen: by default they stay unseen."""

    def __call__(self, samples: Any, **kwargs: Any) -> tuple[Any, Any]:
        return self._split(samples, np.ones(sample_count(samples), dtype=bool))


@ClassFactory.register(ClassType.UTD, alias="SampleRegonitionByDistance")
class SampleRegonitionByDistance(_Recognition):
    """Unseen iff the sample is farther than ``factor`` x the calibrated radius from every
    task's training centroid (rule in :mod:`sedna.algorithms.knowledge_management.knowledge_base`)."""

    def __init__(self, task_index: Any = None, factor: float | None = None, **kwargs: Any) -> None:
        super().__init__(task_index, **kwargs)
        if factor is not None:
            self.task_index = dict(self.task_index, unseen_factor=float(factor))
        self.kb = LocalKnowledgeBase(".")
        self.scores = np.zeros(0)

    def __call__(self, samples: Any, **kwargs: Any) -> tuple[Any, Any]:
        x = samples.x if hasattr(samples, "x") else samples
        positions, self.scores = self.kb.nearest_task(x, self.task_index)
        self.scores = with_orientation(self.task_index, x, positions, self.scores)
        return self._split(samples, self.scores > 1.0)


def _task_model(task: Any) -> Any:
    """The model object of a task: Sedna's ``task.model.model`` (a Model artifact around it),
    or ``task.model`` itself."""
    model = getattr(task, "model", None)
    inner = getattr(model, "model", None)
    return inner if inner is not None and not isinstance(inner, str) else model


class _TaskFilter:
    """Base of the 0.3-0.5 task filters: ``task_flags`` holds the last per-task verdicts."""

    def __init__(self, **kwargs: Any) -> None:
        self.task_flags: list[bool] = []

    def _verdict(self, flags: list[bool]) -> bool:
        self.task_flags = flags
        return any(flags)


@ClassFactory.register(ClassType.UTD, alias="ModelProbeFilter")
class ModelProbeFilter(_TaskFilter):
    """Older API: a task is unseen when the mean of its model's max ``predict_proba`` over the
    task's samples is below ``threshold``. Tasks whose model has no ``predict_proba`` are not
    judged (Sedna called the batch unseen then, and had the comparison the other way round)."""

    def __call__(self, tasks: list[Any] | None = None, result: Any = None, threshold: float = 0.5,
                 **kwargs: Any) -> bool:
        flags = []
        for task in tasks or []:
            model = _task_model(task)
            if not callable(getattr(model, "predict_proba", None)) or task.samples is None:
                flags.append(False)
                continue
            proba = np.asarray(model.predict_proba(task.samples.x), dtype=float)
            flags.append(bool(proba.size) and bool(proba.reshape(len(proba), -1).max(axis=1).mean() < float(threshold)))
        return self._verdict(flags)


@ClassFactory.register(ClassType.UTD, alias="TaskAttrFilter")
class TaskAttrFilter(_TaskFilter):
    """Older API: a task is unseen unless its ``meta_attr`` equals its model's ``meta_attr``
    (samples of an attribute combination no task model was trained on)."""

    def __call__(self, tasks: list[Any] | None = None, result: Any = None, **kwargs: Any) -> bool:
        flags = [getattr(t, "meta_attr", None) != getattr(t.model, "meta_attr", None) for t in tasks or []]
        return self._verdict(flags)


# Sedna 0.3's names of the same filters
ClassFactory.register_cls(ModelProbeFilter, ClassType.UTD, "ModelProbe")
ClassFactory.register_cls(TaskAttrFilter, ClassType.UTD, "TaskAttr")
