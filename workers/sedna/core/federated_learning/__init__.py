"""``from sedna.core.federated_learning import FederatedLearning``."""

from sedna.core.federated_learning.federated_learning import FederatedLearning

__all__ = ["FederatedLearning"]
