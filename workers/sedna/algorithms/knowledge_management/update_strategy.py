"""Task update decision (ClassType.KM): which task models to (re)train on new samples."""

from __future__ import annotations

from typing import Any

from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["UpdateStrategyDefault", "UpdateStrategyByFinetune"]


@ClassFactory.register(ClassType.KM, alias="UpdateStrategyDefault")
class UpdateStrategyDefault:
    """Retrain, from scratch, every task that received new samples; the other tasks keep
    their models. Sedna names this default but never registered it; here it exists."""

    finetune = False

    def __init__(self, task_index: Any = None, **kwargs: Any) -> None:
        self.task_index = task_index or {}

    def __call__(self, tasks: list[Any], task_type: str = "seen_task") -> tuple[list[Any], bool]:
        """``tasks`` are the newly defined tasks; returns ``(tasks to train, finetune?)``."""
        return [t for t in tasks if t.samples is not None], self.finetune


@ClassFactory.register(ClassType.KM, alias="UpdateStrategyByFinetune")
class UpdateStrategyByFinetune(UpdateStrategyDefault):
    """As the default, but a task that already has a model continues training from it."""

    finetune = True
