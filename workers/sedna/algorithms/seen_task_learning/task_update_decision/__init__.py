"""Sedna 0.6+'s module of task update decisions.

Sedna registers ``UpdateStrategyByFinetune`` only when a script imports this module, and its
default ``UpdateStrategyDefault`` is never registered; here both are registered as soon as
lifelong learning loads (:mod:`sedna.algorithms.knowledge_management.update_strategy`), and
this module keeps the import of Sedna's scripts working.
"""

from sedna.algorithms.knowledge_management.update_strategy import (
    UpdateStrategyByFinetune,
    UpdateStrategyDefault,
)

__all__ = ["UpdateStrategyDefault", "UpdateStrategyByFinetune"]
