"""``Task``, ``TaskGroup`` and ``Model`` under Sedna 0.3-0.5's module path
(``sedna.algorithms.multi_task_learning.task_jobs.artifact``), for scripts that import them there."""

from sedna.algorithms.seen_task_learning.artifact import Model, Task, TaskGroup

__all__ = ["Task", "TaskGroup", "Model"]
