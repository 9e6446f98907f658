"""Pure reconcilers, one module per kind, and the Plan contract they share.

``RECONCILERS[kind]`` and ``CLEANUPS[kind]`` map a Kind to its ``reconcile(obs) -> Plan`` and
``cleanup(obs) -> Plan`` (the latter for runtimes without owner-reference garbage collection).
"""

from __future__ import annotations

from collections.abc import Callable

from . import dataset, federatedlearning, incrementallearning, jointinference, lifelonglearning
from .plan import Observation, Plan

__all__ = ["RECONCILERS", "CLEANUPS", "reconcile", "cleanup"]

RECONCILERS: dict[str, Callable[[Observation], Plan]] = {
    "Dataset": dataset.reconcile,
    "Model": dataset.reconcile,
    "JointInferenceService": jointinference.reconcile,
    "FederatedLearningJob": federatedlearning.reconcile,
    "IncrementalLearningJob": incrementallearning.reconcile,
    "LifelongLearningJob": lifelonglearning.reconcile,
}

CLEANUPS: dict[str, Callable[[Observation], Plan]] = {
    "Dataset": dataset.cleanup,
    "Model": dataset.cleanup,
    "JointInferenceService": jointinference.cleanup,
    "FederatedLearningJob": federatedlearning.cleanup,
    "IncrementalLearningJob": incrementallearning.cleanup,
    "LifelongLearningJob": lifelonglearning.cleanup,
}


def reconcile(obs: Observation) -> Plan:
    """Reconcile any sedna.io resource."""
    return RECONCILERS[obs.resource.kind](obs)


def cleanup(obs: Observation) -> Plan:
    """The plan that removes everything the resource owns."""
    return CLEANUPS[obs.resource.kind](obs)
