"""Sedna's older multi-task-learning registry (ClassType.MTL, sic): the same components under
their older aliases, so scripts written against ``MulTaskLearning`` resolve them."""

from __future__ import annotations

from sedna.algorithms.seen_task_learning import (
    DefaultInferenceIntegrate,
    DefaultTaskRelationDiscover,
    DefaultTaskRemodeling,
    TaskAllocationByDataAttr,
    TaskAllocationBySVC,
    TaskDefinitionByDataAttr,
    TaskDefinitionBySVC,
)
from sedna.common.class_factory import ClassFactory, ClassType

__all__ = ["register_mtl_aliases"]

_ALIASES = {
    "TaskDefinitionByDataAttr": TaskDefinitionByDataAttr,
    "TaskDefinitionBySVC": TaskDefinitionBySVC,
    "DefaultTaskRelationDiscover": DefaultTaskRelationDiscover,
    "TaskMiningByDataAttr": TaskAllocationByDataAttr,
    "TaskMiningBySVC": TaskAllocationBySVC,
    "DefaultTaskRemodeling": DefaultTaskRemodeling,
    "DefaultInferenceIntegrate": DefaultInferenceIntegrate,
}


def register_mtl_aliases() -> None:
    for alias, cls in _ALIASES.items():
        ClassFactory.register_cls(cls, ClassType.MTL, alias)


register_mtl_aliases()
