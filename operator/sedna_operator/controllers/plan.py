"""What reconcilers see (an :class:`Observation`) and what they decide (a :class:`Plan`).

Reconcilers are pure functions ``reconcile(obs: Observation) -> Plan``; the runtimes
(``runtime.kubernetes`` and ``runtime.local``) gather observations and apply plans. This
module is the contract between them, so it holds data only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, InstanceOf

from ..api import Resource

__all__ = [
    "DEFAULT_STORAGE_INITIALIZER_IMAGE",
    "WorkerPhase",
    "ObservedWorker",
    "ObservedDataset",
    "ObservedModel",
    "WorkerReport",
    "ObservedSecret",
    "ObservedDeployment",
    "Observation",
    "DeploymentPlan",
    "WorkerPlan",
    "ServicePlan",
    "AutoscalerPlan",
    "EventPlan",
    "Plan",
]

WorkerPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
# Ours (images/storage-initializer.Dockerfile, the chart's tag): the init container runs
# `python -m sedna.storage_initializer`, which Sedna's own initializer image does not have.
DEFAULT_STORAGE_INITIALIZER_IMAGE = "sedna-py/storage-initializer:0.1.0"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class ObservedWorker(_Data):
    """A worker (pod or local process) owned by the resource, as the runtime sees it now."""

    name: str
    role: str = Field(description="Lower-case worker type: edge, cloud, aggregation, train, eval, inference.")
    phase: WorkerPhase
    exit_code: int | None = None
    node: str | None = None
    restarts: int = 0
    created_at: datetime | None = None
    deleting: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    template_hash: str | None = Field(default=None, description="Hash of the template the worker was made from.")
    waiting_reason: str | None = Field(
        default=None, description="Why a Pending worker waits, where the runtime knows (unschedulable, image pull...)."
    )
    ready: bool | None = Field(
        default=None,
        description="The pod's Ready condition (its readiness probe passes); None where the runtime cannot tell.",
    )
    workload: str | None = Field(
        default=None, description="The Deployment this pod belongs to (through its ReplicaSet); None for a bare worker."
    )

    @property
    def serving(self) -> bool:
        """Running and, where the runtime knows it, ready (a worker without a probe is ready once running)."""
        return self.phase == "Running" and self.ready is not False


class ObservedDataset(_Data):
    name: str
    url: str
    format: str
    node_name: str
    number_of_samples: int = 0
    credential_name: str | None = None  # additive: the Dataset's spec.credentialName
    update_time: datetime | None = None  # additive: when the LC last saw the count change


class ObservedModel(_Data):
    name: str
    url: str
    format: str
    credential_name: str | None = None


class WorkerReport(_Data):
    """The latest report of one worker to its LC (Sedna's body, validated)."""

    worker: str
    kind: str = Field(description="Worker phase: train, eval, deploy, inference.")
    status: str = Field(description="ready, completed, failed, running.")
    owner_info: dict[str, Any] = Field(default_factory=dict)
    results: list[dict[str, Any]] = Field(default_factory=list)
    received_at: datetime
    sequence: int = 0


class ObservedSecret(_Data):
    """A Secret named by a ``credentialName``. ``annotations`` carry Sedna's ``s3-endpoint`` and
    ``s3-usehttps``; ``data`` (decoded) is only needed when credentials are inlined."""

    name: str
    annotations: dict[str, str] = Field(default_factory=dict)
    data: dict[str, str] = Field(default_factory=dict)


class ObservedDeployment(_Data):
    """A Deployment owned by the resource (runtimes that have Deployments: Kubernetes)."""

    name: str
    role: str
    template_hash: str | None = Field(default=None, description="The hash its pod template was made from.")
    labels: dict[str, str] = Field(default_factory=dict)
    replicas: int | None = Field(default=None, description="spec.replicas (an HPA may have changed it).")
    available: int = Field(default=0, description="status.availableReplicas: pods Ready for minReadySeconds.")
    deleting: bool = False


class Observation(_Data):
    """Everything a reconciler may look at. ``now`` is passed in so reconcilers stay pure."""

    # InstanceOf keeps the caller's object (e.g. an IncrementalLearningJob) instead of
    # re-validating it into the generic Resource, so isinstance checks stay meaningful.
    resource: InstanceOf[Resource]
    workers: list[ObservedWorker] = Field(default_factory=list)
    datasets: dict[str, ObservedDataset] = Field(default_factory=dict)
    models: dict[str, ObservedModel] = Field(default_factory=dict)
    reports: dict[str, WorkerReport] = Field(default_factory=dict)
    now: datetime
    # Where workers reach the LC and the KB; runtimes fill these from their configuration.
    lc_server: str = "http://$(NODE_IP):9100"
    kb_server: str = "http://kb.sedna:9020"
    # Additive fields (control-plane core): storage and LC hand-over.
    secrets: dict[str, ObservedSecret] = Field(
        default_factory=dict, description="Secrets named by credentialName fields, by name (optional)."
    )
    storage_initializer_image: str = Field(
        default=DEFAULT_STORAGE_INITIALIZER_IMAGE,
        description="Image of the init container that downloads remote (http, https, s3) URLs.",
    )
    inline_credentials: bool = Field(
        default=False,
        description="Put S3 credentials in plain env values (KubeEdge edge nodes cannot resolve "
        "secretKeyRef) instead of secretKeyRef references. Needs the Secret's data in `secrets`.",
    )
    deployments: dict[str, ObservedDeployment] | None = Field(
        default=None,
        description="Owned Deployments by name; None where the runtime has no Deployments (the local "
        "one), and reconcilers then run every worker as one pod/process.",
    )
    autoscalers: dict[str, str | None] = Field(
        default_factory=dict,
        description="Owned HorizontalPodAutoscalers: name -> the spec hash they were made from.",
    )
    lc_files: dict[str, bool] = Field(
        default_factory=dict,
        description="Files the LC was asked to write (round data, deploy copies), by path, and whether "
        "they exist now. A path missing from the map is taken as written.",
    )
    children_watched: bool = Field(
        default=False,
        description="The runtime reconciles again on every change of the resource's pods, Deployments "
        "and Services (the operator watches them), so waiting for them needs no timed look.",
    )


class DeploymentPlan(_Data):
    """Run a worker's pod as the template of an apps/v1 Deployment (see :class:`WorkerPlan`)."""

    manifest: dict[str, Any] = Field(
        description="A complete apps/v1 Deployment manifest except spec.template, which is the worker's pod "
        "(kept in one place so that what runtimes add to worker pods, e.g. tokens, reaches the template)."
    )
    replicas_owned_by_hpa: bool = Field(
        default=False,
        description="An HPA scales this Deployment: an update keeps the live spec.replicas instead of the manifest's.",
    )


class WorkerPlan(_Data):
    """A worker to create: the complete pod manifest (metadata, spec) as a dict.

    With ``deployment`` set, the worker is a Deployment named ``name``, created or updated (its
    pod template is ``pod`` without a name), and the Deployment makes the pods.
    """

    name: str = Field(description="Pod name (generated by the reconciler: deterministic from resource+role+attempt).")
    role: str
    pod: dict[str, Any] = Field(description="A complete v1 Pod manifest: labels, ownerReferences, env, volumes, init containers.")
    template_hash: str
    deployment: DeploymentPlan | None = None


class ServicePlan(_Data):
    name: str
    service: dict[str, Any] = Field(description="A complete v1 Service manifest.")


class AutoscalerPlan(_Data):
    """An autoscaling/v2 HorizontalPodAutoscaler that must exist as given (created or replaced)."""

    name: str
    hpa: dict[str, Any] = Field(description="A complete autoscaling/v2 HorizontalPodAutoscaler manifest.")


class EventPlan(_Data):
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str
    message: str


class Plan(_Data):
    """The reconciler's decision. Applying it twice must create nothing twice."""

    create_workers: list[WorkerPlan] = Field(default_factory=list)
    delete_workers: list[str] = Field(default_factory=list, description="Names of owned workers to delete.")
    services: list[ServicePlan] = Field(default_factory=list, description="Services that must exist (created if missing).")
    delete_services: list[str] = Field(default_factory=list)
    autoscalers: list[AutoscalerPlan] = Field(default_factory=list, description="HPAs to create or replace.")
    delete_autoscalers: list[str] = Field(default_factory=list)
    delete_deployments: list[str] = Field(default_factory=list)
    status_patch: dict[str, Any] = Field(
        default_factory=dict, description="JSON merge patch of .status, wire (camelCase) names."
    )
    model_patches: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Status merge patches of referenced Models, by name (FL metrics)."
    )
    annotations: dict[str, str | None] = Field(default_factory=dict, description="Annotations to set (None removes).")
    events: list[EventPlan] = Field(default_factory=list)
    requeue_after: float | None = Field(default=None, description="Seconds until the reconciler wants to look again.")
    finished: bool = Field(default=False, description="The resource reached a terminal state; no more work.")
    expires_in: float | None = Field(
        default=None, description="A finished resource: seconds until it is deleted (ttlSecondsAfterFinished)."
    )
    delete_self: bool = Field(default=False, description="Delete the resource itself (its TTL after finishing ran out).")
