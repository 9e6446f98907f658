"""``from sedna.core.lifelong_learning import LifelongLearning``."""

from sedna.core.lifelong_learning.lifelong_learning import LifelongLearning

__all__ = ["LifelongLearning"]
