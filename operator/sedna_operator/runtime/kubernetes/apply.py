"""Applying a :class:`Plan` through the Kubernetes API.

Order: deletions, services, workers (pods, Deployments) and HPAs, Model status, annotations,
the resource's status, then events. Every step is idempotent: pods and services have names
fixed by the plan, so a create that finds the object (409 AlreadyExists) is a success, and a
delete that finds nothing (404) is too. Deployments and HPAs are planned only when they must
change, and are then created or replaced (PUT at the version just read). Status is a JSON merge patch on the ``/status`` subresource (so the LC's
``status.reports`` keys are never overwritten) and is skipped when it would change nothing,
which keeps our own writes from waking us up in a loop.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
from datetime import UTC, datetime
from typing import Any

from ...api import API_VERSION, KINDS, Resource
from ...controllers.plan import EventPlan, Plan, WorkerPlan
from ...controllers.workers import deployment_manifest
from ...core.merge import merge_patch
from .cache import WatchCache
from .client import MERGE_PATCH, ApiError, KubeClient
from .observe import Reads, object_path, resource_path

__all__ = ["merge_patch", "apply_plan", "post_event", "object_ref", "event_body", "AppliedPlan"]

log = logging.getLogger(__name__)
_COMPONENT = "sedna-operator"
_INSTANCE = os.environ.get("POD_NAME") or socket.gethostname()


class AppliedPlan:
    """What applying a plan did (for logs, metrics and tests)."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.services: list[str] = []
        self.status_patched = False
        self.events: list[str] = []
        # The resource as our last write to it (annotations, status) left it: the engine knows
        # the watch event of that write for its own and skips it.
        self.written: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return (
            f"AppliedPlan(created={self.created}, deleted={self.deleted}, services={self.services}, "
            f"status_patched={self.status_patched}, events={self.events})"
        )


async def _attempt(status: int, coro: Any) -> tuple[bool, Any]:
    """Await ``coro``: (True, its result), or (False, None) if it failed with the ignorable ``status``."""
    try:
        return True, await coro
    except ApiError as exc:
        if exc.status == status:
            return False, None
        raise


async def _ignore(status: int, coro: Any) -> bool:
    """Await ``coro``; True if it succeeded, False if it failed with the ignorable ``status``."""
    return (await _attempt(status, coro))[0]


class _Writer:
    """The API calls of one plan's apply, each written through to the operator's watch cache
    (when it has one) so that the next reconcile sees the write before its watch event."""

    def __init__(self, client: KubeClient, namespace: str, owner_kind: str, cache: WatchCache | None):
        self.client, self.ns, self.owner_kind, self.cache = client, namespace, owner_kind, cache

    def _remember(self, plural: str, body: Any, owner_kind: str | None = None) -> None:
        if self.cache is not None and isinstance(body, dict) and body.get("metadata"):
            self.cache.wrote(plural, body, owner_kind)

    async def create(self, plural: str, manifest: dict[str, Any]) -> bool:
        created, body = await _attempt(409, self.client.request("POST", object_path(plural, self.ns), manifest))
        if created:
            self._remember(plural, body, self.owner_kind)
        return created

    async def ensure_service(self, manifest: dict[str, Any]) -> bool:
        """Create the Service if it is missing. Looking first avoids a POST per reconcile: a POST
        that ends in 409 still allocates (and then releases) a ClusterIP on the server. The look
        goes through :class:`~.observe.Reads`: no request where the watch cache covers Services."""
        name = manifest["metadata"]["name"]
        if await Reads(self.client, self.cache).child("services", self.owner_kind, self.ns, name) is not None:
            return False
        return await self.create("services", manifest)

    async def delete(self, plural: str, name: str) -> bool:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        deleted, response = await _attempt(404, self.client.request("DELETE", object_path(plural, self.ns, name), body))
        if self.cache is not None:
            # A pod answers with itself, terminating (what a fresh read would show); a Deployment
            # or Service is gone.
            if deleted and isinstance(response, dict) and response.get("kind") not in (None, "Status"):
                self.cache.wrote(plural, response, self.owner_kind, deleted=True)
            else:
                self.cache.deleted(plural, self.ns, name, self.owner_kind)
        return deleted

    async def put_or_create(self, plural: str, manifest: dict[str, Any], keep_replicas: bool = False) -> bool:
        """Create the object, or replace the live one with ``manifest``. Annotations and labels
        others put on it (the Deployment controller's revision) are kept; with ``keep_replicas``
        so is the live ``spec.replicas``, which an HPA owns. A conflict (someone wrote in between)
        raises, and the engine retries the reconcile, which reads again.

        Creating is tried first: plans write a Deployment or HPA mostly because it is missing,
        and a GET first would cost one request per new object (a replace costs one refused POST
        instead)."""
        if await self.create(plural, manifest):
            return True
        name = manifest["metadata"]["name"]
        try:
            live: dict[str, Any] = await self.client.request("GET", object_path(plural, self.ns, name))
        except ApiError as exc:
            if not exc.not_found:
                raise
            # Deleted between the two calls: the next reconcile creates it.
            return False
        body = copy.deepcopy(manifest)
        meta, live_meta = body["metadata"], live["metadata"]
        meta["resourceVersion"] = live_meta["resourceVersion"]
        for key in ("labels", "annotations"):
            meta[key] = {**(live_meta.get(key) or {}), **(meta.get(key) or {})}
        if keep_replicas and "replicas" in (live.get("spec") or {}):
            body["spec"]["replicas"] = live["spec"]["replicas"]
        self._remember(plural, await self.client.request("PUT", object_path(plural, self.ns, name), body), self.owner_kind)
        return True

    async def worker(self, worker: WorkerPlan) -> bool:
        """A bare worker pod is created; a Deployment is created or replaced."""
        if worker.deployment is None:
            return await self.create("pods", worker.pod)
        return await self.put_or_create(
            "deployments", deployment_manifest(worker), worker.deployment.replicas_owned_by_hpa
        )

    async def patch_sedna(self, kind: str, name: str, patch: dict[str, Any], sub: str | None = None) -> Any:
        """A merge patch of a sedna.io object (or its status): the object as it now is."""
        written = await self.client.request(
            "PATCH", resource_path(kind, self.ns, name, sub), patch, content_type=MERGE_PATCH
        )
        self._remember(KINDS[kind].plural, written)
        return written


def object_ref(body: dict[str, Any]) -> dict[str, Any]:
    """The ``involvedObject`` reference of an API object (a dict as read from the server)."""
    meta = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion", API_VERSION),
        "kind": body.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }


def event_body(ref: dict[str, Any], event: EventPlan, now: datetime) -> dict[str, Any]:
    """A core/v1 Event about the object ``ref`` (what ``kubectl describe`` and ``get events`` show)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    micro = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{ref['name']}.", "namespace": ref["namespace"]},
        "involvedObject": ref,
        "type": event.type,
        "reason": event.reason,
        "message": event.message[:1024],
        "source": {"component": _COMPONENT},
        "reportingComponent": f"sedna.io/{_COMPONENT}",
        "reportingInstance": _INSTANCE,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": micro,
        "action": event.reason,
        "count": 1,
    }


async def post_event(client: KubeClient, ref: dict[str, Any], event: EventPlan) -> None:
    """Create one Event; failures are logged, never fatal (events are best-effort in Kubernetes)."""
    try:
        await client.request(
            "POST",
            KubeClient.core_path(ref["namespace"], "events"),
            event_body(ref, event, datetime.now(UTC)),
        )
    except ApiError as exc:
        log.warning("could not post event %s on %s/%s: %s", event.reason, ref["kind"], ref["name"], exc)


async def apply_plan(
    client: KubeClient,
    body: dict[str, Any],
    resource: Resource[Any, Any],
    plan: Plan,
    existing_pods: frozenset[str] = frozenset(),
    cache: WatchCache | None = None,
) -> AppliedPlan:
    """Make the cluster match ``plan``. Raises :class:`ApiError` on the first failure that matters.

    ``existing_pods`` are the owned pods just observed: creating them again is skipped. Every
    write is remembered in ``cache`` (the operator's watch cache), if given.
    """
    ns, done = resource.namespace, AppliedPlan()
    writer = _Writer(client, ns, resource.kind, cache)
    doomed = [
        ("services", plan.delete_services),
        ("pods", plan.delete_workers),
        ("deployments", plan.delete_deployments),
        ("horizontalpodautoscalers", plan.delete_autoscalers),
    ]
    deletions = [writer.delete(plural, n) for plural, names in doomed for n in names]
    for name, ok in zip(
        [n for _, names in doomed for n in names], await asyncio.gather(*deletions), strict=True
    ):
        if ok:
            done.deleted.append(name)
    # Services first so workers that look their peers up by DNS find them at start.
    for svc, ok in zip(
        plan.services,
        await asyncio.gather(*(writer.ensure_service(s.service) for s in plan.services)),
        strict=True,
    ):
        if ok:
            done.services.append(svc.name)
    new_workers = [w for w in plan.create_workers if w.name not in existing_pods]
    for worker, ok in zip(
        new_workers,
        await asyncio.gather(*(writer.worker(w) for w in new_workers)),
        strict=True,
    ):
        if ok:
            done.created.append(worker.name)
    for autoscaler, ok in zip(
        plan.autoscalers,
        await asyncio.gather(*(writer.put_or_create("horizontalpodautoscalers", a.hpa) for a in plan.autoscalers)),
        strict=True,
    ):
        if ok:
            done.created.append(autoscaler.name)
    await asyncio.gather(
        *(writer.patch_sedna("Model", name, {"status": patch}, "status") for name, patch in plan.model_patches.items())
    )
    if plan.annotations:
        current = body["metadata"].get("annotations") or {}
        if any(current.get(k) != v for k, v in plan.annotations.items()):
            patch = {"metadata": {"annotations": plan.annotations}}
            done.written = await writer.patch_sedna(resource.kind, resource.name, patch)
    status = body.get("status") or {}
    if plan.status_patch and merge_patch(status, plan.status_patch) != status:
        done.written = await writer.patch_sedna(resource.kind, resource.name, {"status": plan.status_patch}, "status")
        done.status_patched = True
    ref = object_ref(body)
    for event in plan.events:
        await post_event(client, ref, event)
        done.events.append(event.reason)
    if plan.delete_self:
        # Background propagation: the garbage collector deletes the owned pods and Services.
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if await _ignore(404, client.request("DELETE", resource_path(resource.kind, ns, resource.name), options)):
            done.deleted.append(f"{resource.kind}/{resource.name}")
            if cache is not None:
                cache.deleted(KINDS[resource.kind].plural, ns, resource.name)
    return done
