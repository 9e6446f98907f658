"""``from sedna.core.incremental_learning import IncrementalLearning``."""

from sedna.core.incremental_learning.incremental_learning import IncrementalLearning

__all__ = ["IncrementalLearning"]
