"""``from sedna.core.lifelong_learning import LifelongLearning``."""

from sedna.core.lifelong_learning.lifelong_learning import LifelongLearning, UnseenFlags

__all__ = ["LifelongLearning", "UnseenFlags"]
