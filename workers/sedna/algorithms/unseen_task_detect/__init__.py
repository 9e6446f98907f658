"""Sedna 0.3–0.5's module path of the unseen-task filters (``ClassType.UTD``).

``from sedna.algorithms.unseen_task_detect import TaskAttrFilter`` keeps working; the classes
live in :mod:`sedna.algorithms.unseen_task_detection`.
"""

from sedna.algorithms.unseen_task_detection import ModelProbeFilter, TaskAttrFilter

__all__ = ["ModelProbeFilter", "TaskAttrFilter"]
