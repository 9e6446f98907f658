"""Building worker Pods and Services from a PodTemplateSpec, the way Sedna's GlobalManager does.

Sedna (``runtime/worker.go``) creates pods with ``generateName=<cr>-<workerType>-``, the labels
``<kind>.sedna.io/{name,uid,worker-type}``, a controller ownerReference to the CR, the controller's
env vars appended to every container, ``restartPolicy`` only when the template leaves it empty and
``hostNetwork`` forced for some workers. We do the same with one change: the name suffix is not
random but derived from ``(uid, role, attempt)``, so applying the same plan twice creates nothing
twice and a restart of the operator finds the pods it already made.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api import PodTemplateSpec, Resource
from .plan import AutoscalerPlan, DeploymentPlan, ObservedWorker, ServicePlan, WorkerPlan

__all__ = [
    "TEMPLATE_HASH_ANNOTATION",
    "ROUND_ANNOTATION",
    "WORKER_KEY_LABEL",
    "NAME_ALPHABET",
    "PodExtras",
    "env",
    "env_from_field",
    "worker_name",
    "worker_labels",
    "owner_reference",
    "spec_hash",
    "build_worker",
    "build_service",
    "observed_hash",
    "deployment_name",
    "autoscaler_name",
    "runs_as_deployment",
    "as_deployment",
    "deployment_manifest",
    "build_autoscaler",
]

TEMPLATE_HASH_ANNOTATION = "sedna.io/template-hash"
ROUND_ANNOTATION = "sedna.io/round"
WORKER_KEY_LABEL = "sedna.io/worker-key"
# Kubernetes' generateName alphabet (no vowels, no look-alikes): our names look like Sedna's.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_MAX_NAME = 63
_SUFFIX_LEN = 5


def env(name: str, value: str | int | float | bool) -> dict[str, Any]:
    """A plain ``{name, value}`` env var; booleans become ``true``/``false`` like Go's formatting."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return {"name": name, "value": text}


def env_from_field(name: str, field_path: str) -> dict[str, Any]:
    """An env var from the downward API (``status.hostIP``, ``metadata.name``, ...)."""
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": field_path}}}


def _suffix(seed: str) -> str:
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    out = []
    for _ in range(_SUFFIX_LEN):
        digest, rem = divmod(digest, len(NAME_ALPHABET))
        out.append(NAME_ALPHABET[rem])
    return "".join(out)


def worker_name(resource: Resource[Any, Any], role: str, attempt: str | int = 0) -> str:
    """``<cr>-<role>-<suffix>``: the suffix hashes (uid, role, attempt), so it is stable across runs.

    The prefix is truncated like Kubernetes' generateName so the name stays a valid 63-char label.
    ``role`` may carry a key (``train-1``) to tell several workers of one type apart.
    """
    prefix = f"{resource.name}-{role}-"[: _MAX_NAME - _SUFFIX_LEN]
    return prefix + _suffix(f"{resource.metadata.uid or resource.name}/{role}/{attempt}")


def worker_labels(resource: Resource[Any, Any], worker_type: str) -> dict[str, str]:
    """Sedna's three labels: ``<lowercase kind>.sedna.io/name|uid|worker-type``."""
    kind = resource.kind.lower()
    return {
        f"{kind}.sedna.io/name": resource.name,
        f"{kind}.sedna.io/uid": resource.metadata.uid or "",
        f"{kind}.sedna.io/worker-type": worker_type.lower(),
    }


def owner_reference(resource: Resource[Any, Any]) -> dict[str, Any]:
    """The controller ownerReference that makes Kubernetes garbage-collect workers with the CR."""
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "name": resource.name,
        "uid": resource.metadata.uid or "",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def spec_hash(template: PodTemplateSpec | Mapping[str, Any] | None, inputs: Mapping[str, Any] | None = None) -> str:
    """Hash of what a worker is made from: its template plus the spec inputs that reach its env.

    A worker whose recorded hash differs from this one is out of date and is rolled.
    """
    body = template.to_wire() if isinstance(template, PodTemplateSpec) else (template or {})
    text = json.dumps({"template": body, "inputs": dict(inputs or {})}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def observed_hash(worker: ObservedWorker) -> str | None:
    """The template hash of an observed worker (field, else its annotation)."""
    return worker.template_hash or worker.annotations.get(TEMPLATE_HASH_ANNOTATION)


@dataclass
class PodExtras:
    """What a controller adds to a template: env, volumes, mounts, init containers and pod settings."""

    env: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    restart_policy: str | None = None
    host_network: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    # A server worker's port: its first container gets a TCP readiness probe there (unless the
    # template has its own), so the pod is Ready, and its Service routes, only once it listens.
    readiness_port: int | None = None

    def extend(self, other: PodExtras) -> None:
        """Merge ``other`` into this one (lists appended, volumes de-duplicated by name)."""
        self.env.extend(other.env)
        names = {v["name"] for v in self.volumes}
        self.volumes.extend(v for v in other.volumes if v["name"] not in names)
        self.volume_mounts.extend(other.volume_mounts)
        self.init_containers.extend(other.init_containers)
        self.annotations.update(other.annotations)
        self.labels.update(other.labels)


def _append_unique(items: list[dict[str, Any]], extra: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    seen = {i.get(key) for i in items}
    out = list(items)
    for item in extra:
        if item.get(key) not in seen:
            out.append(item)
            seen.add(item.get(key))
    return out


def build_worker(
    resource: Resource[Any, Any],
    *,
    role: str,
    worker_type: str | None = None,
    template: PodTemplateSpec,
    attempt: str | int,
    extras: PodExtras,
    lc_server: str,
    template_hash: str,
) -> WorkerPlan:
    """The full Pod manifest of one worker.

    Env order per container: the template's own env, then ``NODE_IP`` (downward API
    ``status.hostIP``), ``LC_SERVER`` (may reference ``$(NODE_IP)``), ``WORKER_NAME`` (the pod
    name, so reports and pods correlate) and the controller's env: Kubernetes lets later
    entries refer to earlier ones and the last duplicate wins, as with Sedna's append.
    """
    wtype = (worker_type or role).lower()
    name = worker_name(resource, role, attempt)
    tmpl = template.to_wire()
    spec: dict[str, Any] = copy.deepcopy(tmpl["spec"])
    meta_in = tmpl.get("metadata") or {}

    labels = {**meta_in.get("labels", {}), **extras.labels, **worker_labels(resource, wtype)}
    annotations = {**meta_in.get("annotations", {}), **extras.annotations, TEMPLATE_HASH_ANNOTATION: template_hash}
    system_env = [
        env_from_field("NODE_IP", "status.hostIP"),
        env("LC_SERVER", lc_server),
        env("WORKER_NAME", name),
        *extras.env,
    ]
    containers = []
    for index, container in enumerate(spec["containers"]):
        c = dict(container)
        c["env"] = [*c.get("env", []), *copy.deepcopy(system_env)]
        if index == 0 and extras.readiness_port and "readinessProbe" not in c:
            c["readinessProbe"] = readiness_probe(extras.readiness_port)
        if extras.volume_mounts:
            c["volumeMounts"] = _append_unique(c.get("volumeMounts", []), copy.deepcopy(extras.volume_mounts), "mountPath")
        containers.append(c)
    spec["containers"] = containers
    if extras.volumes:
        spec["volumes"] = _append_unique(spec.get("volumes", []), copy.deepcopy(extras.volumes), "name")
    if extras.init_containers:
        spec["initContainers"] = [*spec.get("initContainers", []), *copy.deepcopy(extras.init_containers)]
    if extras.restart_policy and not spec.get("restartPolicy"):
        spec["restartPolicy"] = extras.restart_policy
    # The pause container becomes PID 1, so the worker's process is not: a Python script as
    # PID 1 ignores SIGTERM, and a deleted worker went on working (reporting, loading models)
    # for the whole grace period on a real node. A template may still say otherwise.
    spec.setdefault("shareProcessNamespace", True)
    if spec.get("nodeName"):
        spec["tolerations"] = _tolerate_partitions(spec.get("tolerations") or [])
    if extras.host_network:
        spec["hostNetwork"] = True
        # Host-network pods resolve cluster names (<job>-aggregation.<ns>) only with this policy.
        spec.setdefault("dnsPolicy", "ClusterFirstWithHostNet")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": resource.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(resource)],
        },
        "spec": spec,
    }
    return WorkerPlan(name=name, role=wtype, pod=pod, template_hash=template_hash)


def readiness_probe(port: int) -> dict[str, Any]:
    """A TCP probe: Sedna's servers (big model, aggregator) have no health path, but accept
    connections only once their model is loaded and they listen."""
    return {"tcpSocket": {"port": port}, "periodSeconds": 2, "timeoutSeconds": 1, "failureThreshold": 3}


# Taints the node lifecycle controller puts on a node whose kubelet stops answering.
PARTITION_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")


def _tolerate_partitions(tolerations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A worker bound to its node (``nodeName``) cannot move: evicting it after 300 s of an
    unreachable node only deletes it, and an edge node cut from the cloud must go on serving
    (what KubeEdge's edge autonomy gives Sedna). Tolerate those taints for ever, unless the
    template says how long."""
    out = [dict(t) for t in tolerations]
    for key in PARTITION_TAINTS:
        if not any(t.get("key") == key and t.get("effect") in (None, "", "NoExecute") for t in out):
            out.append({"key": key, "operator": "Exists", "effect": "NoExecute"})
    return out


def build_service(resource: Resource[Any, Any], worker_type: str, port: int) -> ServicePlan:
    """Sedna's worker Service: ``<cr>-<workerType>``, one TCP port named ``tcp-0``, selector = labels."""
    name = f"{resource.name}-{worker_type}".lower()[:63].rstrip("-")
    labels = worker_labels(resource, worker_type)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": resource.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(resource)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [{"name": "tcp-0", "protocol": "TCP", "port": port, "targetPort": port}],
        },
    }
    return ServicePlan(name=name, service=service)


# ---------------------------------------------------------------------------- Deployments
# Sedna's JI controller runs its workers as Deployments (reference §2.2); these build them from
# the same worker pod, so a Deployment's pods carry every label, env var and mount a bare
# worker would.


def deployment_name(resource: Resource[Any, Any], worker_type: str) -> str:
    """Sedna's name: ``<cr>-deployment-<workerType>``."""
    return f"{resource.name}-deployment-{worker_type}".lower()


def autoscaler_name(resource: Resource[Any, Any], worker_type: str) -> str:
    """Sedna's name: ``hpa-<cr>-deployment-<workerType>``."""
    return f"hpa-{deployment_name(resource, worker_type)}"


def runs_as_deployment(template: PodTemplateSpec) -> bool:
    """A Deployment's pods must restart ``Always`` (the API server refuses anything else), so a
    template asking for ``OnFailure``/``Never`` (a worker meant to finish, such as an edge
    worker that infers a finite stream) stays a bare pod."""
    policy = (template.to_wire().get("spec") or {}).get("restartPolicy")
    return policy in (None, "", "Always")


def _app_label(resource: Resource[Any, Any], worker_type: str) -> str:
    """Sedna's ``app.sedna.io=<cr>-<workerType>-svc``, cut to a valid 63-character label value."""
    return f"{resource.name}-{worker_type}-svc".lower()[:63].rstrip("-_.")


def as_deployment(
    resource: Resource[Any, Any], worker: WorkerPlan, *, replicas: int, replicas_owned_by_hpa: bool
) -> WorkerPlan:
    """``worker`` turned into a Deployment of its pod.

    The pods get their names from the ReplicaSet, so ``WORKER_NAME`` becomes the downward API's
    ``metadata.name``: it stays the pod name, which is what reports are keyed by.
    """
    pod = copy.deepcopy(worker.pod)
    for container in pod["spec"]["containers"]:
        container["env"] = [
            env_from_field("WORKER_NAME", "metadata.name") if e.get("name") == "WORKER_NAME" and e.get("value") == worker.name else e
            for e in container.get("env", [])
        ]
    name = deployment_name(resource, worker.role)
    selector = worker_labels(resource, worker.role)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": resource.namespace,
            "labels": {**selector, "app.sedna.io": _app_label(resource, worker.role)},
            "annotations": {TEMPLATE_HASH_ANNOTATION: worker.template_hash},
            "ownerReferences": [owner_reference(resource)],
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector}},
    }
    plan = DeploymentPlan(manifest=manifest, replicas_owned_by_hpa=replicas_owned_by_hpa)
    return WorkerPlan(name=name, role=worker.role, pod=pod, template_hash=worker.template_hash, deployment=plan)


def deployment_manifest(worker: WorkerPlan) -> dict[str, Any]:
    """The complete Deployment of a worker planned as one: its manifest plus the pod as template."""
    if worker.deployment is None:
        raise ValueError(f"worker {worker.name} is not planned as a Deployment")
    manifest = copy.deepcopy(worker.deployment.manifest)
    meta = worker.pod.get("metadata") or {}
    template_meta = {k: copy.deepcopy(meta[k]) for k in ("labels", "annotations") if k in meta}
    manifest["spec"]["template"] = {"metadata": template_meta, "spec": copy.deepcopy(worker.pod["spec"])}
    return manifest


def build_autoscaler(
    resource: Resource[Any, Any], worker_type: str, hpa: Mapping[str, Any]
) -> tuple[AutoscalerPlan, str]:
    """Sedna's HPA of one worker: the CR's ``hpa`` fields (minReplicas, maxReplicas, metrics,
    behavior) as they are, aimed at the worker's Deployment; and the hash of what it was made
    from (recorded on it, so an edit of ``hpa`` is seen)."""
    name = autoscaler_name(resource, worker_type)
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment_name(resource, worker_type)},
        **copy.deepcopy(dict(hpa)),
    }
    digest = spec_hash(None, {"hpa": spec})
    manifest = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": resource.namespace,
            "labels": worker_labels(resource, worker_type),
            "annotations": {TEMPLATE_HASH_ANNOTATION: digest},
            "ownerReferences": [owner_reference(resource)],
        },
        "spec": spec,
    }
    return AutoscalerPlan(name=name, hpa=manifest), digest
