"""The kopf side: settings, and thin handlers that only say *which* resource to reconcile.

Handlers per sedna.io kind (those with a reconciler):

- ``event`` of the resource, one handler for every reason to look at it: the initial listing
  (type None: a restarted operator picks up every resource where the previous one stopped,
  the state being in each resource's status), its creation, spec edits, and LC reports landing
  in ``status.reports``. kopf runs it per object, one event at a time, and batches bursts.
  An event showing the resource as our own last write left it is skipped by the engine.
  A resource being deleted gets the kind's ``cleanup``; a deleted one is forgotten.
- ``event`` of pods and services carrying the kind's ``<kind>.sedna.io/uid`` label (and of
  Deployments and HPAs, for kinds whose workers are Deployments): the owner is reconciled
  shortly (``CHILD_DELAY``; a burst is one reconcile) when the event changes what the
  reconciler sees of that child (:mod:`.children`). A Deployment's pods are owned by its
  ReplicaSet, so their ``<kind>.sedna.io/name`` label names the owner instead.

Why ``kopf.on.event`` and not ``on.create``/``on.update``/``on.resume``/``on.delete``: kopf's
change detection diffs spec and metadata only, so status (the LC's reports) needs the event
handler anyway, and one level-based reconcile serves all reasons. Registering any change
handler makes kopf write its diff base (an annotation) after each create and edit: one more
PATCH and one more watch event per resource, for nothing we use.

Handlers never raise: the engine retries failures with back-off itself (see its docstring).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from ...api import GROUP, KINDS, VERSION
from ...core.registry import SETTLING_KINDS
from .cache import index_function, index_id
from .children import ChildEvents
from .config import OperatorConfig
from .engine import Engine, Key
from .observe import WORKLOAD_KINDS, label_key, owner_of

__all__ = ["make_settings", "build_registry", "EventsOnlyDiffBase", "FINALIZER", "PERSISTENCE_PREFIX", "CHILD_DELAY"]

# Our own annotation keys (kopf's defaults are kopf.zalando.org/...): the diff base, and the
# progress of handlers while they are being retried.
PERSISTENCE_PREFIX = "sedna.io"
FINALIZER = "sedna.io/operator"


class EventsOnlyDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf builds a diff base (a deep copy of the object) on every watch event of every watched
    resource, pods and Deployments included; only change handlers (on.create/update/resume) and
    daemons use it, and this operator registers neither (:func:`build_registry` refuses them).
    The copy was the largest CPU cost of the operator's own code path in a profile of the
    latency bench, so the essence built here is empty."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()


def make_settings(config: OperatorConfig) -> kopf.OperatorSettings:
    """kopf settings, each chosen for a reason (see the comments)."""
    settings = kopf.OperatorSettings()
    # State of kopf itself lives in annotations under sedna.io/, never in status: status is
    # the reconcilers' (and the LC's) and has a strict schema. v1=False: no legacy keys.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=PERSISTENCE_PREFIX, touch_key="kopf-touch", v1=False
    )
    settings.persistence.diffbase_storage = EventsOnlyDiffBase(
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


# How long a child's event waits for others of the same owner before the owner is reconciled.
CHILD_DELAY = 0.1
# Children whose ADDED event, when our own last reconcile created them, needs no reconcile.
OWN_ADDED = frozenset({"deployments", "horizontalpodautoscalers"})


def _register_kind(registry: kopf.OperatorRegistry, engine: Engine, kind: str, events: ChildEvents) -> None:
    plural = KINDS[kind].plural

    async def on_event(body: kopf.Body, type: str | None, **kwargs: Any) -> None:
        engine.cache.bind(kwargs)
        key = _key(kind, body)
        if type == "DELETED":
            engine.forget(key)
        elif body["metadata"].get("deletionTimestamp"):
            await engine.cleanup(key, dict(body))
        else:  # None (initial listing), ADDED, MODIFIED
            await engine.reconcile(key, seen=body)

    async def on_child(body: kopf.Body, type: str | None, resource: kopf.Resource, **kwargs: Any) -> None:
        engine.cache.bind(kwargs)
        owner = owner_of(dict(body))
        if owner is None:  # a Deployment's pod: its controller is a ReplicaSet
            name = (body["metadata"].get("labels") or {}).get(label_key(kind, "name"))
            owner = (kind, name) if name else None
        if owner is None or owner[0] != kind or not events.matters(resource.plural, kind, body, type):
            return
        key = Key(kind, body["metadata"]["namespace"], owner[1])
        # A Deployment or HPA we just created: our own write, planned with by the reconcile that
        # made it. (Bare pods are not skipped: some reconcilers count Pending workers.)
        if type == "ADDED" and resource.plural in OWN_ADDED and engine.created_here(key, body["metadata"]["name"]):
            return
        engine.kick_soon(key, CHILD_DELAY)

    kopf.on.event(GROUP, VERSION, plural, id="sedna-watch", registry=registry)(on_event)
    kopf.index(GROUP, VERSION, plural, id=index_id(plural), registry=registry)(index_function())
    selector = {label_key(kind, "uid"): kopf.PRESENT}
    # Each child's events reach on_child, and its objects fill this kind's index of that child.
    children: list[tuple[str, ...]] = []
    if kind not in SETTLING_KINDS:
        children += [("v1", "pods"), ("v1", "services")]
    if kind in WORKLOAD_KINDS:
        children += [("apps", "v1", "deployments"), ("autoscaling", "v2", "horizontalpodautoscalers")]
    for selector_args in children:
        child = selector_args[-1]
        kopf.on.event(*selector_args, id=f"sedna-{plural}-{child}", labels=selector, registry=registry)(on_child)
        kopf.index(*selector_args, id=index_id(child, kind), labels=selector, registry=registry)(index_function(kind))


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

    children = ChildEvents()
    for kind in engine.controllers:
        _register_kind(registry, engine, kind, children)
    _refuse_change_handlers(registry)
    return registry


def _refuse_change_handlers(registry: kopf.OperatorRegistry) -> None:
    """:class:`EventsOnlyDiffBase` keeps no diff base, which change handlers and daemons need."""
    for group in ("_changing", "_spawning"):
        found = getattr(registry, group, None)
        if found is not None and found.get_all_handlers():
            raise RuntimeError(
                f"kopf {group.strip('_')} handlers need a diff base; EventsOnlyDiffBase keeps none"
            )
