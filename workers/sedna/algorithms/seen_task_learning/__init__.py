"""Seen-task learning components (ClassType.STP), registered under Sedna's aliases."""

from sedna.algorithms.seen_task_learning.artifact import Model, Task, TaskGroup
from sedna.algorithms.seen_task_learning.seen_task_learning import (
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
)

__all__ = [
    "Task", "TaskGroup", "Model",
    "TaskDefinitionByDataAttr", "TaskDefinitionBySVC", "TaskDefinitionByOrigin",
    "DefaultTaskRelationDiscover",
    "TaskAllocationByDataAttr", "TaskAllocationBySVC", "TaskAllocationDefault",
    "TaskAllocationStream", "TaskAllocationByOrigin",
    "DefaultTaskRemodeling", "DefaultInferenceIntegrate",
]
