"""The one kind registry: each sedna.io kind's reconcile and cleanup, and the kind groups the
runtimes treat differently. Both runtimes run exactly the kinds listed here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..controllers import dataset, federatedlearning, incrementallearning, jointinference, lifelonglearning
from ..controllers.plan import Observation, Plan

__all__ = [
    "Reconciler",
    "KindController",
    "CONTROLLERS",
    "JOB_KINDS",
    "SERVICE_KINDS",
    "SETTLING_KINDS",
    "WORKLOAD_KINDS",
    "controllers",
]

Reconciler = Callable[[Observation], Plan]


@dataclass(frozen=True)
class KindController:
    """A kind's pure ``reconcile(obs) -> Plan`` and, for runtimes without owner-reference garbage
    collection, its ``cleanup(obs) -> Plan``."""

    reconcile: Reconciler
    cleanup: Reconciler | None = None


CONTROLLERS: dict[str, KindController] = {
    "Dataset": KindController(dataset.reconcile, dataset.cleanup),
    # Model: stamps status.updateTime once (FL writes its metrics through Plan.model_patches).
    "Model": KindController(dataset.reconcile, dataset.cleanup),
    "JointInferenceService": KindController(jointinference.reconcile, jointinference.cleanup),
    "FederatedLearningJob": KindController(federatedlearning.reconcile, federatedlearning.cleanup),
    "IncrementalLearningJob": KindController(incrementallearning.reconcile, incrementallearning.cleanup),
    "LifelongLearningJob": KindController(lifelonglearning.reconcile, lifelonglearning.cleanup),
}

#: Kinds that finish (``Plan.finished``): ``sedna run`` waits for them.
JOB_KINDS = ("FederatedLearningJob", "IncrementalLearningJob", "LifelongLearningJob")
#: Kinds that serve until deleted.
SERVICE_KINDS = ("JointInferenceService",)
#: Kinds whose reconcile is a function of their own object alone (no workers, reports or clock
#: once settled): a runtime may skip reconciling them again until the object changes.
SETTLING_KINDS = ("Dataset", "Model")
#: Kinds whose workers may be Deployments (with HPAs): only these pay for listing them.
WORKLOAD_KINDS = frozenset({"JointInferenceService"})


def controllers() -> dict[str, KindController]:
    """A copy of :data:`CONTROLLERS` (a runtime may narrow or replace entries, e.g. in tests)."""
    return dict(CONTROLLERS)
