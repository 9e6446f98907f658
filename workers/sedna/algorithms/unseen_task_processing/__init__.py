"""Unseen-task processing (ClassType.UTP)."""

from __future__ import annotations

from typing import Any

from sedna.algorithms.seen_task_learning.artifact import sample_count
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["UnseenTaskAllocationDefault"]


@ClassFactory.register(ClassType.UTP, alias="UnseenTaskAllocationDefault")
class UnseenTaskAllocationDefault:
    """Unseen samples are answered by the global model: every allocation is ``-1``."""

    def __init__(self, task_extractor: Any = None, **kwargs: Any) -> None:
        self.task_extractor = task_extractor

    def __call__(self, samples: Any, **kwargs: Any) -> tuple[Any, list[int]]:
        return samples, [-1] * sample_count(samples)
