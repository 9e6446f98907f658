"""Sedna's older multi-task-learning registry (ClassType.MTL, sic): the same components under
their older aliases, so scripts written against Sedna 0.3-0.5's ``MulTaskLearning`` resolve them.

Task *mining* (0.3-0.5) is task *allocation* (0.6+): ``TaskMiningByDataAttr`` and
``TaskMiningBySVC`` are the allocations of the same name, and :data:`MINING_TO_ALLOCATION`
maps the names for lifelong learning, which looks every step up in the newer registries first.
:data:`PAIRED_MINING` is Sedna's rule for a ``task_mining`` left without a method: the mining
that goes with the task definition.
"""

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

__all__ = ["register_mtl_aliases", "MINING_TO_ALLOCATION", "PAIRED_MINING"]

_ALIASES = {
    "TaskDefinitionByDataAttr": TaskDefinitionByDataAttr,
    "TaskDefinitionBySVC": TaskDefinitionBySVC,
    "DefaultTaskRelationDiscover": DefaultTaskRelationDiscover,
    "TaskMiningByDataAttr": TaskAllocationByDataAttr,
    "TaskMiningBySVC": TaskAllocationBySVC,
    "DefaultTaskRemodeling": DefaultTaskRemodeling,
    "DefaultInferenceIntegrate": DefaultInferenceIntegrate,
}

#: Sedna 0.3-0.5 mining name -> the 0.6+ allocation name
MINING_TO_ALLOCATION = {
    "TaskMiningByDataAttr": "TaskAllocationByDataAttr",
    "TaskMiningBySVC": "TaskAllocationBySVC",
}

#: task definition -> the mining Sedna pairs with it when ``task_mining`` names no method
PAIRED_MINING = {
    "TaskDefinitionByDataAttr": "TaskMiningByDataAttr",
    "TaskDefinitionBySVC": "TaskMiningBySVC",
}


def register_mtl_aliases() -> None:
    """Register the older aliases (idempotent)."""
    for alias, cls in _ALIASES.items():
        ClassFactory.register_cls(cls, ClassType.MTL, alias)


register_mtl_aliases()
