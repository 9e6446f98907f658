"""Building an :class:`Observation` from what the API server holds.

Pure functions turn API objects (dicts) into the reconcilers' types; :func:`observe` does the
reads: the resource, its owned pods, the Datasets, Models and Secrets it names. Every read is
fresh (no cache), so a reconcile sees exactly what etcd holds and an operator restart loses
nothing.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ...api import API_VERSION, GROUP, KINDS, VERSION, Resource, parse_resource
from ...api.paths import namespace_base, resolve_relative_paths
from ...controllers.plan import (
    Observation,
    ObservedDataset,
    ObservedDeployment,
    ObservedModel,
    ObservedSecret,
    ObservedWorker,
    WorkerReport,
)
from ...lc.jobfiles import waited_paths
from .client import ApiError, KubeClient
from .config import OperatorConfig

__all__ = [
    "TEMPLATE_HASH_ANNOTATION",
    "label_key",
    "owner_of",
    "observed_worker",
    "observed_deployment",
    "WORKLOAD_KINDS",
    "observed_dataset",
    "observed_model",
    "observed_secret",
    "parse_report",
    "reports_of",
    "lc_files_of",
    "referenced_names",
    "resource_path",
    "observe",
]

TEMPLATE_HASH_ANNOTATION = "sedna.io/template-hash"
_PHASES = {"Pending", "Running", "Succeeded", "Failed", "Unknown"}
# Kinds whose workers may be Deployments (with HPAs): only these pay for listing them.
WORKLOAD_KINDS = frozenset({"JointInferenceService"})
# Spec keys whose ``{name: ...}`` value names a Model (Sedna's field names).
_MODEL_KEYS = {"model", "initialModel", "pretrainedModel", "initialEvalModel"}


def label_key(kind: str, what: str) -> str:
    """Sedna's worker label key: ``<lowercase kind>.sedna.io/<what>`` (name, uid, worker-type)."""
    return f"{kind.lower()}.{GROUP}/{what}"


def resource_path(kind: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return KubeClient.custom_path(GROUP, VERSION, namespace, KINDS[kind].plural, name, sub)


def owner_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the sedna.io controller owner of a pod or service, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("apiVersion") == API_VERSION and ref.get("kind") in KINDS:
            return str(ref["kind"]), str(ref["name"])
    return None


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _exit_code(status: dict[str, Any]) -> int | None:
    """The exit code of a terminated pod: the first non-zero one of its containers, else 0."""
    codes = [
        cs["state"]["terminated"].get("exitCode")
        for cs in status.get("containerStatuses") or []
        if (cs.get("state") or {}).get("terminated")
    ]
    codes = [c for c in codes if c is not None]
    if not codes:
        return None
    return next((c for c in codes if c != 0), 0)


def _ready(status: dict[str, Any]) -> bool | None:
    """The pod's Ready condition (False outside Running: a finished pod serves nothing)."""
    if status.get("phase") != "Running":
        return False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return None


def _waiting_reason(status: dict[str, Any]) -> str | None:
    """Why a Pending pod waits: the scheduler's message, else a container's waiting reason."""
    if status.get("phase") != "Pending":
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return str(condition.get("message") or condition.get("reason") or "unschedulable")
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in ("ContainerCreating", "PodInitializing"):
            return f"{cs.get('name')}: {waiting['reason']}" + (f" ({waiting['message']})" if waiting.get("message") else "")
    return None


def _workload_of(pod: dict[str, Any], deployments: frozenset[str]) -> str | None:
    """The owned Deployment a pod belongs to: its controller is that Deployment's ReplicaSet,
    named ``<deployment>-<pod-template-hash>`` (the hash is also the pod's label)."""
    meta = pod.get("metadata") or {}
    rs_hash = (meta.get("labels") or {}).get("pod-template-hash")
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "ReplicaSet" and rs_hash:
            name = str(ref.get("name", "")).removesuffix(f"-{rs_hash}")
            if name in deployments:
                return name
    return None


def observed_deployment(obj: dict[str, Any], kind: str) -> ObservedDeployment:
    meta = obj.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return ObservedDeployment(
        name=meta["name"],
        role=labels.get(label_key(kind, "worker-type"), ""),
        template_hash=(meta.get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION),
        labels=labels,
        replicas=spec.get("replicas"),
        available=int(status.get("availableReplicas") or 0),
        deleting=bool(meta.get("deletionTimestamp")),
    )


def observed_worker(pod: dict[str, Any], kind: str, deployments: frozenset[str] = frozenset()) -> ObservedWorker:
    """A pod as the reconcilers see it: role from Sedna's worker-type label, phase, exit code..."""
    meta = pod.get("metadata", {})
    status = pod.get("status") or {}
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    phase = status.get("phase") or "Pending"
    return ObservedWorker(
        name=meta["name"],
        role=labels.get(label_key(kind, "worker-type"), ""),
        phase=phase if phase in _PHASES else "Unknown",
        exit_code=_exit_code(status),
        node=(pod.get("spec") or {}).get("nodeName"),
        restarts=sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or []),
        created_at=_timestamp(meta.get("creationTimestamp")),
        deleting=bool(meta.get("deletionTimestamp")),
        labels=labels,
        annotations=annotations,
        template_hash=annotations.get(TEMPLATE_HASH_ANNOTATION),
        ready=_ready(status),
        waiting_reason=_waiting_reason(status),
        workload=_workload_of(pod, deployments),
    )


def observed_dataset(obj: dict[str, Any]) -> ObservedDataset:
    spec = obj.get("spec") or {}
    return ObservedDataset(
        name=obj["metadata"]["name"],
        url=spec.get("url", ""),
        format=spec.get("format", ""),
        node_name=spec.get("nodeName", ""),
        number_of_samples=int((obj.get("status") or {}).get("numberOfSamples") or 0),
    )


def observed_model(obj: dict[str, Any]) -> ObservedModel:
    spec = obj.get("spec") or {}
    return ObservedModel(
        name=obj["metadata"]["name"],
        url=spec.get("url", ""),
        format=spec.get("format", ""),
        credential_name=spec.get("credentialName"),
    )


def observed_secret(obj: dict[str, Any], *, with_data: bool) -> ObservedSecret:
    data: dict[str, str] = {}
    if with_data:
        for key, value in (obj.get("data") or {}).items():
            data[key] = base64.b64decode(value).decode("utf-8", errors="replace")
    return ObservedSecret(
        name=obj["metadata"]["name"], annotations=dict(obj["metadata"].get("annotations") or {}), data=data
    )


def parse_report(worker: str, body: dict[str, Any]) -> WorkerReport | None:
    """One entry of ``status.reports`` (camelCase as the LC writes it; snake_case accepted)."""
    try:
        return WorkerReport(
            worker=worker,
            kind=str(body.get("kind", "")),
            status=str(body.get("status", "")),
            owner_info=body.get("ownerInfo", body.get("owner_info")) or {},
            results=body.get("results") or [],
            received_at=body.get("receivedAt", body.get("received_at")) or datetime.now(UTC),
            sequence=int(body.get("sequence") or 0),
        )
    except (ValidationError, ValueError, TypeError):
        return None


def reports_of(obj: dict[str, Any]) -> dict[str, WorkerReport]:
    """The latest report of each worker, from ``status.reports`` of the resource."""
    out = {}
    for worker, body in ((obj.get("status") or {}).get("reports") or {}).items():
        if isinstance(body, dict) and (report := parse_report(worker, body)) is not None:
            out[worker] = report
    return out


def lc_files_of(obj: dict[str, Any]) -> dict[str, bool]:
    """``Observation.lc_files`` of an IL/LL job from what the LC of its dataset's node recorded.

    Every path the reconcilers may wait on (the round data files of ``controllerState.roundData``,
    the target of ``controllerState.deploy``) is in the map: True once ``status.lcState`` says the
    LC wrote it (files) or carried the request out (deploys, keyed by request, so a target reused
    by a later round is not taken for done), else False. Other kinds get an empty map.
    """
    if obj.get("kind") not in ("IncrementalLearningJob", "LifelongLearningJob"):
        return {}
    status = obj.get("status") or {}
    lc = status.get("lcState") or {}
    recorded = lc.get("files") or {}
    deploys = lc.get("deploys") or {}
    files, deploy = waited_paths(status.get("controllerState"))
    out = {path: recorded.get(path) is True for path in files}
    if deploy is not None:
        target, rid = deploy
        out[target] = deploys.get(rid) == "done"
    return out


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    yield key, value
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "template":  # pod templates never name sedna objects
                yield from _walk(v, k)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)


def referenced_names(spec: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """(datasets, models, secrets) a spec names: ``dataset.name``, ``*model.name``, ``credentialName``."""
    datasets: set[str] = set()
    models: set[str] = set()
    secrets: set[str] = set()
    for key, value in _walk(spec):
        if key == "credentialName" and isinstance(value, str):
            secrets.add(value)
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            if key == "dataset":
                datasets.add(value["name"])
            elif key in _MODEL_KEYS:
                models.add(value["name"])
    return datasets, models, secrets


async def _get_or_none(client: KubeClient, path: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = await client.request("GET", path)
        return result
    except ApiError as exc:
        if exc.not_found:
            return None
        raise


def _controlled_by(obj: dict[str, Any], uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


async def _list_owned(client: KubeClient, path: str, kind: str, uid: str) -> list[dict[str, Any]]:
    """Objects at ``path`` carrying the resource's uid label and its controller ownerReference."""
    body = await client.request("GET", path, params={"labelSelector": f"{label_key(kind, 'uid')}={uid}"})
    return [o for o in body.get("items") or [] if _controlled_by(o, uid)]


async def list_workers(
    client: KubeClient, kind: str, namespace: str, uid: str, deployments: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Pods carrying the resource's uid label, controlled by it or by an owned Deployment's ReplicaSet."""
    params = {"labelSelector": f"{label_key(kind, 'uid')}={uid}"}
    body = await client.request("GET", KubeClient.core_path(namespace, "pods"), params=params)
    return [p for p in body.get("items") or [] if _controlled_by(p, uid) or _workload_of(p, deployments)]


async def list_workloads(
    client: KubeClient, kind: str, namespace: str, uid: str
) -> tuple[dict[str, ObservedDeployment] | None, dict[str, str | None]]:
    """The resource's Deployments and HPAs (name -> recorded spec hash); ``(None, {})`` for a
    kind whose workers are only pods."""
    if kind not in WORKLOAD_KINDS:
        return None, {}
    deployments, hpas = await asyncio.gather(
        _list_owned(client, KubeClient.custom_path("apps", "v1", namespace, "deployments"), kind, uid),
        _list_owned(
            client, KubeClient.custom_path("autoscaling", "v2", namespace, "horizontalpodautoscalers"), kind, uid
        ),
    )
    return (
        {d["metadata"]["name"]: observed_deployment(d, kind) for d in deployments},
        {h["metadata"]["name"]: (h["metadata"].get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION) for h in hpas},
    )


async def observe(
    client: KubeClient, config: OperatorConfig, body: dict[str, Any]
) -> tuple[Resource[Any, Any], Observation]:
    """Read everything the reconciler of ``body``'s kind may look at. Raises on API errors.

    Relative paths of the resource and of the Datasets and Models it names are resolved under
    the namespace's base directory (``api.paths``), as the LC resolves them."""
    namespace = (body.get("metadata") or {}).get("namespace") or "default"
    base = namespace_base(config.relative_path_root, namespace)
    resource = parse_resource(resolve_relative_paths(body, base))
    ns, kind, uid = resource.namespace, resource.kind, resource.metadata.uid or ""
    datasets, models, secrets = referenced_names(body.get("spec") or {})
    ds_found, model_found, (deployments, autoscalers) = await asyncio.gather(
        asyncio.gather(*(_get_or_none(client, resource_path("Dataset", ns, n)) for n in sorted(datasets))),
        asyncio.gather(*(_get_or_none(client, resource_path("Model", ns, n)) for n in sorted(models))),
        list_workloads(client, kind, ns, uid),
    )
    # Pods after Deployments: a pod is kept if its ReplicaSet's Deployment is one of ours.
    owned_deployments = frozenset(deployments or ())
    pods = await list_workers(client, kind, ns, uid, owned_deployments)
    ds_objs = [resolve_relative_paths({"kind": "Dataset", **o}, base) if o else None for o in ds_found]
    model_objs = [resolve_relative_paths({"kind": "Model", **o}, base) if o else None for o in model_found]
    for obj in [*ds_objs, *model_objs]:
        if obj and (cred := (obj.get("spec") or {}).get("credentialName")):
            secrets.add(cred)
    secret_objs = await asyncio.gather(
        *(_get_or_none(client, KubeClient.core_path(ns, "secrets", n)) for n in sorted(secrets))
    )
    observation = Observation(
        resource=resource,
        workers=[observed_worker(p, kind, owned_deployments) for p in pods],
        deployments=deployments,
        autoscalers=autoscalers,
        datasets={o["metadata"]["name"]: observed_dataset(o) for o in ds_objs if o},
        models={o["metadata"]["name"]: observed_model(o) for o in model_objs if o},
        secrets={
            o["metadata"]["name"]: observed_secret(o, with_data=config.inline_credentials)
            for o in secret_objs
            if o
        },
        reports=reports_of(body),
        lc_files=lc_files_of(body),
        now=datetime.now(UTC),
        lc_server=config.lc_server,
        kb_server=config.kb_server,
        storage_initializer_image=config.storage_initializer_image,
        inline_credentials=config.inline_credentials,
    )
    return resource, observation
