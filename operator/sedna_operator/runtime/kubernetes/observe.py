"""Building an :class:`Observation` from what the API server holds.

:func:`observe` does the reads: the resource, its owned pods (and Deployments / HPAs), the
Datasets, Models and Secrets it names; the pure conversion to the Observation is
:mod:`sedna_operator.core.observation`, shared with the local runtime. The reads come from
:class:`Reads`: fresh from the API server, or from the operator's watch indices plus its own
pending writes (:mod:`.cache`), which an operator restart rebuilds from a fresh listing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ...api import GROUP, KINDS, VERSION, Resource, parse_resource
from ...api.paths import namespace_base, resolve_relative_paths
from ...controllers.plan import Observation, ObservedDeployment
from ...core.observation import (
    TEMPLATE_HASH_ANNOTATION,
    credential_names,
    label_key,
    lc_files_of,
    observation,
    observed_dataset,
    observed_deployment,
    observed_model,
    observed_secret,
    observed_worker,
    owner_of,
    referenced_names,
    workload_of,
)
from ...core.registry import SETTLING_KINDS, WORKLOAD_KINDS
from ...core.reports import parse_report, reports_of
from .cache import WatchCache
from .client import ApiError, KubeClient
from .config import OperatorConfig

__all__ = [
    # re-exported from core (the kubernetes handlers and tests import them from here)
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
    # this module's own
    "resource_path",
    "object_path",
    "Reads",
    "list_workers",
    "list_workloads",
    "observe",
]


def resource_path(kind: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return KubeClient.custom_path(GROUP, VERSION, namespace, KINDS[kind].plural, name, sub)


def object_path(plural: str, namespace: str, name: str | None = None) -> str:
    """The REST path of a namespaced object of the few core/apps/autoscaling kinds the operator
    reads and writes (pods, Services, Secrets, Events, Deployments, HPAs)."""
    group = {"deployments": ("apps", "v1"), "horizontalpodautoscalers": ("autoscaling", "v2")}.get(plural)
    if group is None:
        return KubeClient.core_path(namespace, plural, name)
    return KubeClient.custom_path(*group, namespace, plural, name)


async def _get_or_none(client: KubeClient, path: str) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = await client.request("GET", path)
        return result
    except ApiError as exc:
        if exc.not_found:
            return None
        raise


class Reads:
    """Where :func:`observe` reads from: the API server (every read fresh), or, given a bound
    :class:`~.cache.WatchCache`, the operator's watch indices and its own pending writes, falling
    back to the API for what no index covers (Secrets, kinds not handled)."""

    def __init__(self, client: KubeClient, cache: WatchCache | None = None):
        self.client = client
        self.cache = cache

    async def resource(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A sedna.io object (the resource itself, a Dataset or Model it names)."""
        plural = KINDS[kind].plural
        if self.cache is not None and self.cache.covers(plural):
            return self.cache.get(plural, namespace, name)
        return await _get_or_none(self.client, resource_path(kind, namespace, name))

    async def child(self, plural: str, owner_kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One child of ``owner_kind`` (a Service, ...) by name."""
        if self.cache is not None and self.cache.covers(plural, owner_kind):
            return self.cache.get(plural, namespace, name, owner_kind)
        return await _get_or_none(self.client, object_path(plural, namespace, name))

    async def owned(self, plural: str, owner_kind: str, namespace: str, uid: str) -> list[dict[str, Any]]:
        """The children of ``plural`` carrying ``owner_kind``'s uid label with value ``uid``."""
        if self.cache is not None and self.cache.covers(plural, owner_kind):
            return self.cache.owned(plural, owner_kind, namespace, uid)
        params = {"labelSelector": f"{label_key(owner_kind, 'uid')}={uid}"}
        body = await self.client.request("GET", object_path(plural, namespace), params=params)
        return list(body.get("items") or [])

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await _get_or_none(self.client, object_path("secrets", namespace, name))


def _controlled_by(obj: dict[str, Any], uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or [])


def _owned_pods(pods: list[dict[str, Any]], uid: str, deployments: frozenset[str]) -> list[dict[str, Any]]:
    return [p for p in pods if _controlled_by(p, uid) or workload_of(p, deployments)]


async def _pods(reads: Reads, kind: str, namespace: str, uid: str) -> list[dict[str, Any]]:
    """The pods carrying the resource's uid label; none for the settling kinds (Dataset, Model),
    which own no workers and whose pods the operator does not watch."""
    return [] if kind in SETTLING_KINDS else await reads.owned("pods", kind, namespace, uid)


def _as_reads(source: KubeClient | Reads) -> Reads:
    return source if isinstance(source, Reads) else Reads(source)


async def list_workers(
    source: KubeClient | Reads, kind: str, namespace: str, uid: str, deployments: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Pods carrying the resource's uid label, controlled by it or by an owned Deployment's ReplicaSet."""
    return _owned_pods(await _as_reads(source).owned("pods", kind, namespace, uid), uid, deployments)


async def list_workloads(
    source: KubeClient | Reads, kind: str, namespace: str, uid: str
) -> tuple[dict[str, ObservedDeployment] | None, dict[str, str | None]]:
    """The resource's Deployments and HPAs (name -> recorded spec hash); ``(None, {})`` for a
    kind whose workers are only pods."""
    if kind not in WORKLOAD_KINDS:
        return None, {}
    reads = _as_reads(source)
    deployments, hpas = await asyncio.gather(
        reads.owned("deployments", kind, namespace, uid),
        reads.owned("horizontalpodautoscalers", kind, namespace, uid),
    )
    return (
        {d["metadata"]["name"]: observed_deployment(d, kind) for d in deployments if _controlled_by(d, uid)},
        {
            h["metadata"]["name"]: (h["metadata"].get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION)
            for h in hpas
            if _controlled_by(h, uid)
        },
    )


async def observe(
    source: KubeClient | Reads, config: OperatorConfig, body: dict[str, Any]
) -> tuple[Resource[Any, Any], Observation]:
    """Read everything the reconciler of ``body``'s kind may look at. Raises on API errors.

    Relative paths of the resource and of the Datasets and Models it names are resolved under
    the namespace's base directory (``api.paths``), as the LC resolves them."""
    namespace = (body.get("metadata") or {}).get("namespace") or "default"
    base = namespace_base(config.relative_path_root, namespace)
    resource = parse_resource(resolve_relative_paths(body, base))
    ns, kind, uid = resource.namespace, resource.kind, resource.metadata.uid or ""
    reads = _as_reads(source)
    datasets, models, secrets = referenced_names(body.get("spec") or {})
    # All reads at once (one round trip, not two): the pods are filtered afterwards, a pod being
    # kept if its ReplicaSet's Deployment is one of ours.
    ds_found, model_found, (deployments, autoscalers), labelled = await asyncio.gather(
        asyncio.gather(*(reads.resource("Dataset", ns, n) for n in sorted(datasets))),
        asyncio.gather(*(reads.resource("Model", ns, n) for n in sorted(models))),
        list_workloads(reads, kind, ns, uid),
        _pods(reads, kind, ns, uid),
    )
    owned_deployments = frozenset(deployments or ())
    pods = _owned_pods(labelled, uid, owned_deployments)
    ds_objs = [resolve_relative_paths({"kind": "Dataset", **o}, base) if o else None for o in ds_found]
    model_objs = [resolve_relative_paths({"kind": "Model", **o}, base) if o else None for o in model_found]
    secrets |= credential_names(o for o in [*ds_objs, *model_objs] if o)
    secret_objs = await asyncio.gather(*(reads.secret(ns, n) for n in sorted(secrets)))
    return resource, observation(
        resource,
        now=datetime.now(UTC),
        workers=[observed_worker(p, kind, owned_deployments) for p in pods],
        deployments=deployments,
        autoscalers=autoscalers,
        datasets=[o for o in ds_objs if o],
        models=[o for o in model_objs if o],
        secrets=[o for o in secret_objs if o],
        reports=reports_of(body),
        lc_files=lc_files_of(body),
        lc_server=config.lc_server,
        kb_server=config.kb_server,
        storage_initializer_image=config.storage_initializer_image,
        inline_credentials=config.inline_credentials,
        # the Secrets' data is only read where credentials are inlined into the env
        secret_data=config.inline_credentials,
        children_watched=True,  # handlers.py: every kind's pods, Services and Deployments
    )
