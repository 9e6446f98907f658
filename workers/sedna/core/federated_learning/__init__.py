"""``from sedna.core.federated_learning import FederatedLearning, FederatedLearningV2``."""

from sedna.core.federated_learning.federated_learning import FederatedLearning
from sedna.core.federated_learning.samples import count_samples
from sedna.core.federated_learning.v2 import FederatedLearningV2

__all__ = ["FederatedLearning", "FederatedLearningV2", "count_samples"]
