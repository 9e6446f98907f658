"""Unseen-sample recognition (ClassType.UTD), under Sedna's spelling of the aliases.

Every recogniser is built with the task index and called with samples; it returns
``(seen_samples, unseen_samples)`` (data sources of the same kind), and records the positions
of each in ``seen_index`` / ``unseen_index`` so results can be put back in order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sedna.algorithms.knowledge_management.knowledge_base import LocalKnowledgeBase
from sedna.algorithms.seen_task_learning.artifact import features, sample_count, subset
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = [
    "SampleRegonitionDefault",
    "SampleReRegonitionDefault",
    "SampleRegonitionByDistance",
    "ModelProbeFilter",
    "TaskAttrFilter",
]


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
        _, self.scores = self.kb.nearest_task(samples.x if hasattr(samples, "x") else samples, self.task_index)
        return self._split(samples, self.scores > 1.0)


@ClassFactory.register(ClassType.UTD, alias="ModelProbeFilter")
class ModelProbeFilter:
    """Older API: unseen when the mean of the max ``predict_proba`` is below ``threshold``
    (Sedna's code had the comparison the other way round)."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def __call__(self, tasks: list[Any], threshold: float = 0.5, **kwargs: Any) -> list[bool]:
        out = []
        for task in tasks:
            proba = np.asarray(task.model.predict_proba(features(task.samples.x)))
            out.append(bool(proba.max(axis=1).mean() < float(threshold)))
        return out


@ClassFactory.register(ClassType.UTD, alias="TaskAttrFilter")
class TaskAttrFilter:
    """Older API: a task is unseen unless its ``meta_attr`` equals its model's ``meta_attr``."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def __call__(self, tasks: list[Any], **kwargs: Any) -> list[bool]:
        return [getattr(t, "meta_attr", None) != getattr(t.model, "meta_attr", None) for t in tasks]
