"""The kopf side: settings, and thin handlers that only say *which* resource to reconcile.

Handlers per sedna.io kind (those with a reconciler):

- ``create`` / ``update`` / ``resume``: kopf's change detection on the spec. ``resume`` runs
  for every existing resource when the operator starts, which is how a restarted operator picks
  up exactly where the previous one stopped (the state is in each resource's status).
- ``delete`` (optional): the kind's ``cleanup`` when the deletion is seen; no finalizer.
- ``event`` of the resource: LC reports land in ``status.reports``, which kopf's change
  detection ignores (it diffs spec and metadata only), so every watch event also triggers a
  reconcile; the engine coalesces the duplicates and skips no-op writes.
- ``event`` of pods and services carrying the kind's ``<kind>.sedna.io/uid`` label (and of
  Deployments and HPAs, for kinds whose workers are Deployments): the owner is reconciled (a
  pod phase changed, a Deployment's available replicas changed, a worker was deleted). A
  Deployment's pods are owned by its ReplicaSet, so their ``<kind>.sedna.io/name`` label
  names the owner instead.

Handlers never raise: the engine retries failures with back-off itself, and kopf's progress
annotations therefore stay empty in the normal case.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ...api import GROUP, KINDS, VERSION
from .config import OperatorConfig
from .engine import Engine, Key
from .observe import WORKLOAD_KINDS, label_key, owner_of

__all__ = ["make_settings", "build_registry", "FINALIZER", "PERSISTENCE_PREFIX"]

# Our own annotation keys (kopf's defaults are kopf.zalando.org/...): the diff base, and the
# progress of handlers while they are being retried.
PERSISTENCE_PREFIX = "sedna.io"
FINALIZER = "sedna.io/operator"


def make_settings(config: OperatorConfig) -> kopf.OperatorSettings:
    """kopf settings, each chosen for a reason (see the comments)."""
    settings = kopf.OperatorSettings()
    # State of kopf itself lives in annotations under sedna.io/, never in status: status is
    # the reconcilers' (and the LC's) and has a strict schema. v1=False: no legacy keys.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=PERSISTENCE_PREFIX, touch_key="kopf-touch", v1=False
    )
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PERSISTENCE_PREFIX, key="last-handled-configuration", v1=False
    )
    # Only used if a non-optional deletion handler is ever added; we register none, because the
    # garbage collector removes workers through their ownerReferences.
    settings.persistence.finalizer = FINALIZER
    # Quiet: kopf's own INFO logs ("Handler succeeded") are not turned into Kubernetes Events;
    # users see our events (reasons from the reconcilers) plus kopf's warnings and errors.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "sedna-operator"
    # Peering: one active operator. Standalone unless a peering object is named.
    settings.peering.standalone = config.peering is None
    if config.peering is not None:
        settings.peering.name = config.peering
        settings.peering.priority = config.priority
        settings.peering.mandatory = True
        settings.peering.clusterwide = not config.namespaces
    # Watch streams are re-opened every ~5 minutes and never hang on a dead connection.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    return settings


def _key(kind: str, body: Any) -> Key:
    meta = body["metadata"]
    return Key(kind, meta["namespace"], meta["name"])


def _register_kind(registry: kopf.OperatorRegistry, engine: Engine, kind: str) -> None:
    plural = KINDS[kind].plural

    async def on_change(body: kopf.Body, **_: Any) -> None:
        await engine.reconcile(_key(kind, body))

    async def on_event(body: kopf.Body, type: str | None, **_: Any) -> None:
        # type None is kopf's initial listing: the resume handler covers it.
        if type in ("ADDED", "MODIFIED"):
            await engine.reconcile(_key(kind, body))

    async def on_delete(body: kopf.Body, **_: Any) -> None:
        await engine.cleanup(_key(kind, body), dict(body))

    async def on_child(body: kopf.Body, type: str | None, **_: Any) -> None:
        owner = owner_of(dict(body))
        if owner is None:  # a Deployment's pod: its controller is a ReplicaSet
            name = (body["metadata"].get("labels") or {}).get(label_key(kind, "name"))
            owner = (kind, name) if name else None
        if owner is not None and owner[0] == kind:
            engine.kick(Key(kind, body["metadata"]["namespace"], owner[1]))

    for reason, decorator in (
        ("create", kopf.on.create),
        ("update", kopf.on.update),
        ("resume", kopf.on.resume),
    ):
        decorator(GROUP, VERSION, plural, id=f"sedna-{reason}", registry=registry)(on_change)
    kopf.on.delete(GROUP, VERSION, plural, id="sedna-cleanup", optional=True, registry=registry)(on_delete)
    kopf.on.event(GROUP, VERSION, plural, id="sedna-watch", registry=registry)(on_event)
    children = {label_key(kind, "uid"): kopf.PRESENT}
    for child in ("pods", "services") if kind != "Dataset" else ():
        kopf.on.event("v1", child, id=f"sedna-{plural}-{child}", labels=children, registry=registry)(on_child)
    for group, version, child in (
        (("apps", "v1", "deployments"), ("autoscaling", "v2", "horizontalpodautoscalers")) if kind in WORKLOAD_KINDS else ()
    ):
        kopf.on.event(group, version, child, id=f"sedna-{plural}-{child}", labels=children, registry=registry)(on_child)


def build_registry(engine: Engine, config: OperatorConfig) -> kopf.OperatorRegistry:
    """A registry (not kopf's global one, so several operators can run in one process)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        creds = engine.client.credentials
        return kopf.ConnectionInfo(
            server=creds.server,
            ca_path=creds.ca_path,
            insecure=creds.insecure,
            scheme="Bearer" if creds.current_token() else None,
            token=creds.current_token(),
            certificate_path=creds.cert_path,
            private_key_path=creds.key_path,
            default_namespace=creds.default_namespace,
        )

    @kopf.on.probe(id="reconciles", registry=registry)
    def probe(**_: Any) -> dict[str, int]:
        return {"reconciles": engine.reconciles, "errors": engine.errors}

    for kind in engine.controllers:
        _register_kind(registry, engine, kind)
    return registry
