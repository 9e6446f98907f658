"""Pure functions from raw objects (dicts, as the API server or the local store holds them) to
the reconcilers' :class:`~sedna_operator.controllers.plan.Observation`.

Both runtimes read their objects (the Kubernetes one over the API, the local one from SQLite)
and build the Observation here, so every field is filled the same way in both: a Dataset's
``credentialName``, a report's time, a pod's phase.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from ..api import API_VERSION, GROUP, KINDS, Resource
from ..controllers.plan import (
    DEFAULT_STORAGE_INITIALIZER_IMAGE,
    Observation,
    ObservedDataset,
    ObservedDeployment,
    ObservedModel,
    ObservedSecret,
    ObservedWorker,
    WorkerReport,
)
from ..lc.jobfiles import waited_paths
from .secrets import decode_secret
from .times import parse_time

__all__ = [
    "TEMPLATE_HASH_ANNOTATION",
    "label_key",
    "owner_of",
    "workload_of",
    "observed_worker",
    "observed_deployment",
    "observed_dataset",
    "observed_model",
    "observed_secret",
    "lc_files_of",
    "referenced_names",
    "credential_names",
    "observation",
]

TEMPLATE_HASH_ANNOTATION = "sedna.io/template-hash"
_PHASES = {"Pending", "Running", "Succeeded", "Failed", "Unknown"}
# Spec keys whose ``{name: ...}`` value names a Model (Sedna's field names).
_MODEL_KEYS = {"model", "initialModel", "pretrainedModel", "initialEvalModel"}


def label_key(kind: str, what: str) -> str:
    """Sedna's worker label key: ``<lowercase kind>.sedna.io/<what>`` (name, uid, worker-type)."""
    return f"{kind.lower()}.{GROUP}/{what}"


def owner_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the sedna.io controller owner of a pod or service, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("apiVersion") == API_VERSION and ref.get("kind") in KINDS:
            return str(ref["kind"]), str(ref["name"])
    return None


def _exit_code(status: Mapping[str, Any]) -> int | None:
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


def _ready(status: Mapping[str, Any]) -> bool | None:
    """The pod's Ready condition (False outside Running: a finished pod serves nothing)."""
    if status.get("phase") != "Running":
        return False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return None


def _waiting_reason(status: Mapping[str, Any]) -> str | None:
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


def workload_of(pod: Mapping[str, Any], deployments: frozenset[str]) -> str | None:
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


def observed_deployment(obj: Mapping[str, Any], kind: str) -> ObservedDeployment:
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


def observed_worker(pod: Mapping[str, Any], kind: str, deployments: frozenset[str] = frozenset()) -> ObservedWorker:
    """A pod as the reconcilers see it: role from Sedna's worker-type label, phase, exit code...
    (the Kubernetes runtime's pods; the local runtime builds its workers from process rows)."""
    meta = pod.get("metadata") or {}
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
        created_at=parse_time(meta.get("creationTimestamp")),
        deleting=bool(meta.get("deletionTimestamp")),
        labels=labels,
        annotations=annotations,
        template_hash=annotations.get(TEMPLATE_HASH_ANNOTATION),
        ready=_ready(status),
        waiting_reason=_waiting_reason(status),
        workload=workload_of(pod, deployments),
    )


def observed_dataset(obj: Mapping[str, Any]) -> ObservedDataset:
    """A Dataset object: where its data is, the credentials to read it, its sample count."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return ObservedDataset(
        name=str(obj["metadata"]["name"]),
        url=str(spec.get("url", "")),
        format=str(spec.get("format", "")),
        node_name=str(spec.get("nodeName", "")),
        number_of_samples=int(status.get("numberOfSamples") or 0),
        credential_name=spec.get("credentialName") or None,
        update_time=parse_time(status.get("updateTime")),
    )


def observed_model(obj: Mapping[str, Any]) -> ObservedModel:
    spec = obj.get("spec") or {}
    return ObservedModel(
        name=str(obj["metadata"]["name"]),
        url=str(spec.get("url", "")),
        format=str(spec.get("format", "")),
        credential_name=spec.get("credentialName") or None,
    )


def observed_secret(obj: Mapping[str, Any], *, with_data: bool) -> ObservedSecret:
    meta = obj.get("metadata") or {}
    return ObservedSecret(
        name=str(meta["name"]),
        annotations=dict(meta.get("annotations") or {}),
        data=decode_secret(obj) if with_data else {},
    )


def lc_files_of(obj: Mapping[str, Any]) -> dict[str, bool]:
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


def referenced_names(spec: Mapping[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """(datasets, models, secrets) a spec names: ``dataset.name``, ``*model.name``, ``credentialName``."""
    datasets: set[str] = set()
    models: set[str] = set()
    secrets: set[str] = set()
    for key, value in _walk(dict(spec)):
        if key == "credentialName" and isinstance(value, str):
            secrets.add(value)
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            if key == "dataset":
                datasets.add(value["name"])
            elif key in _MODEL_KEYS:
                models.add(value["name"])
    return datasets, models, secrets


def credential_names(objs: Iterable[Mapping[str, Any]]) -> set[str]:
    """The Secrets named by ``spec.credentialName`` of Datasets and Models a resource uses
    (their workers mount those credentials too)."""
    return {str(cred) for o in objs if (cred := (o.get("spec") or {}).get("credentialName"))}


def observation(
    resource: Resource[Any, Any],
    *,
    now: datetime,
    workers: Iterable[ObservedWorker] = (),
    datasets: Iterable[Mapping[str, Any]] = (),
    models: Iterable[Mapping[str, Any]] = (),
    secrets: Iterable[Mapping[str, Any]] = (),
    reports: Mapping[str, WorkerReport] | None = None,
    lc_files: Mapping[str, bool] | None = None,
    lc_server: str,
    kb_server: str,
    storage_initializer_image: str = DEFAULT_STORAGE_INITIALIZER_IMAGE,
    inline_credentials: bool = False,
    secret_data: bool = True,
    deployments: Mapping[str, ObservedDeployment] | None = None,
    autoscalers: Mapping[str, str | None] | None = None,
    children_watched: bool = False,
) -> Observation:
    """The whole Observation of ``resource`` from the raw objects a runtime read.

    ``datasets`` / ``models`` / ``secrets`` are raw objects (each keyed by its name);
    ``secret_data``: keep the Secrets' decoded data (needed only where credentials are inlined).
    """
    return Observation(
        resource=resource,
        workers=list(workers),
        deployments=dict(deployments) if deployments is not None else None,
        autoscalers=dict(autoscalers or {}),
        datasets={d.name: d for d in map(observed_dataset, datasets)},
        models={m.name: m for m in map(observed_model, models)},
        secrets={s.name: s for s in (observed_secret(o, with_data=secret_data) for o in secrets)},
        reports=dict(reports or {}),
        lc_files=dict(lc_files or {}),
        now=now,
        lc_server=lc_server,
        kb_server=kb_server,
        storage_initializer_image=storage_initializer_image,
        inline_credentials=inline_credentials,
        children_watched=children_watched,
    )
