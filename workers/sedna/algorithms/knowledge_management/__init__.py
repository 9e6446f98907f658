"""Knowledge management: the knowledge-base interface and task update strategies (ClassType.KM)."""

from sedna.algorithms.knowledge_management.knowledge_base import (
    INDEX_FILE,
    KnowledgeBase,
    LocalKnowledgeBase,
    fit_task_statistics,
)
from sedna.algorithms.knowledge_management.update_strategy import (
    UpdateStrategyByFinetune,
    UpdateStrategyDefault,
)

__all__ = [
    "INDEX_FILE", "KnowledgeBase", "LocalKnowledgeBase", "fit_task_statistics",
    "UpdateStrategyDefault", "UpdateStrategyByFinetune",
]
