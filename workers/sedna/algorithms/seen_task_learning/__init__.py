"""Seen-task learning components (ClassType.STP), registered under Sedna's aliases.

``sedna.algorithms.seen_task_learning.task_update_decision`` (the module Sedna 0.6+ scripts
import to register ``UpdateStrategyByFinetune``) re-exports the update strategies of
:mod:`sedna.algorithms.knowledge_management`, which are registered with this package already.
"""

from sedna.algorithms.seen_task_learning.artifact import Model, Task, TaskGroup
from sedna.algorithms.seen_task_learning.seen_task_learning import (
    AttributeExtractor,
    DefaultInferenceIntegrate,
    DefaultTaskRelationDiscover,
    DefaultTaskRemodeling,
    TaskAllocationByDataAttr,
    TaskAllocationByOrigin,
    TaskAllocationBySVC,
    TaskAllocationDefault,
    TaskAllocationStream,
    TaskDefinitionByDataAttr,
    TaskDefinitionByOrigin,
    TaskDefinitionBySVC,
    attribute_columns,
)

__all__ = [
    "Task", "TaskGroup", "Model", "AttributeExtractor", "attribute_columns",
    "TaskDefinitionByDataAttr", "TaskDefinitionBySVC", "TaskDefinitionByOrigin",
    "DefaultTaskRelationDiscover",
    "TaskAllocationByDataAttr", "TaskAllocationBySVC", "TaskAllocationDefault",
    "TaskAllocationStream", "TaskAllocationByOrigin",
    "DefaultTaskRemodeling", "DefaultInferenceIntegrate",
]
