"""The reconcile loop of one resource: observe -> ``controllers.<kind>.reconcile`` -> apply.

Every kopf handler (watch events of the resource, LC reports landing on its status, events of
its pods, services, Deployments and HPAs) ends in :meth:`Engine.reconcile`, which

- serialises reconciles of one resource and coalesces triggers that arrive while one runs into
  a single follow-up reconcile. kopf serialises the handlers of *one object*, but a resource's
  triggers come from several objects (the resource and each child, each in its own kopf
  worker), so the per-resource lock is ours;
- skips a watch event that shows the resource exactly as our own last write left it (or as
  the last reconcile saw it): our status write needs no re-observe. Instead the reconciler is
  run once more, in memory, on the written object: only if that pass would still change
  something (a state machine taking its next step) is a real reconcile made;
- reads the current state when it reconciles (never the trigger's copy), so the outcome never
  depends on which trigger came first: from the operator's watch indices plus its own writes
  not yet seen on the watch (:mod:`.cache`), or from the API server until kopf has handed the
  indices over;
- schedules the next look (``plan.requeue_after``, or a growing back-off after an error).

The schedule is held in memory, and losing it is harmless: at start-up kopf lists every
existing resource (an event of type None), which reconciles it and schedules again.

Where kopf is bypassed, and why:

- ``kopf.timer`` is not used for requeues: kopf holds a finalizer on every object with a timer,
  and a finalizer would block ``kubectl delete`` whenever the operator is down; owner
  references and the garbage collector already remove workers, so we need none.
- kopf's retry/back-off (``TemporaryError``) serves change handlers only; it would not retry a
  reconcile triggered by a child's event or by a requeue, and each retry writes a progress
  annotation (one more write, one more watch event). One back-off per resource here covers
  every trigger.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ...api import KINDS, ResourceValidationError, parse_resource
from ...api.paths import namespace_base, resolve_relative_paths
from ...controllers.plan import EventPlan, Observation, Plan
from ...core.merge import merge_patch
from ...core.observation import lc_files_of
from ...core.registry import KindController, controllers
from ...core.reports import reports_of
from ...lc.auth import REPORT_TOKEN_ENV, aggregation_env, market_env, report_token
from .apply import AppliedPlan, apply_plan, object_ref, post_event
from .cache import WatchCache
from .client import ApiError, KubeClient
from .config import OperatorConfig
from .metrics import ERRORS, LATENCY, RECONCILES, WorkerCounts
from .observe import Reads, observe, resource_path

__all__ = ["Key", "Engine", "Controller", "load_controllers"]

log = logging.getLogger("sedna.operator")

class Controller(Protocol):
    """What a controllers.<kind> module provides."""

    def reconcile(self, obs: Observation) -> Plan: ...


@dataclass(frozen=True, order=True)
class Key:
    """Identity of a sedna.io resource."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def load_controllers() -> dict[str, KindController]:
    """The reconcilers of every kind in the one registry (:mod:`sedna_operator.core.registry`),
    Model included: the local runtime runs exactly the same set."""
    return controllers()


def _namespace_terminating(exc: ApiError) -> bool:
    """The API server refuses new objects in a namespace being deleted (403, NamespaceTerminating)."""
    return exc.status == 403 and "because it is being terminated" in str(exc)


def _namespace_gone(exc: ApiError, namespace: str) -> bool:
    """A write into ``namespace`` answered 404 for the namespace itself: it was deleted (with the
    resource in it) between our read of the resource and the write."""
    details = exc.body.get("details") if isinstance(exc.body, dict) else None
    return (
        exc.not_found
        and isinstance(details, dict)
        and details.get("kind") == "namespaces"
        and details.get("name") == namespace
    )


def essence(body: Mapping[str, Any]) -> str:
    """A digest of what a reconcile can see of the resource: all of it but the fields every
    write changes (``resourceVersion``, ``managedFields``)."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in ("resourceVersion", "managedFields")}
    text = json.dumps({**body, "metadata": meta}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _more_to_do(before: Plan, after: Plan, status: Mapping[str, Any], existing: frozenset[str]) -> bool:
    """Whether ``after`` (the reconciler's pass on the object ``before`` wrote) still changes
    something that ``before`` did not already do. Children are as ``before`` observed them, so
    what ``before`` created or deleted is not counted again."""
    if after.status_patch and merge_patch(dict(status), after.status_patch) != status:
        return True
    created = existing | {w.name for w in before.create_workers}
    return bool(
        after.delete_self
        or any(w.name not in created for w in after.create_workers)
        or set(after.delete_workers) - set(before.delete_workers)
        or set(after.delete_services) - set(before.delete_services)
        or set(after.delete_deployments) - set(before.delete_deployments)
        or set(after.delete_autoscalers) - set(before.delete_autoscalers)
        or {s.name for s in after.services} - {s.name for s in before.services}
        or {a.name for a in after.autoscalers} - {a.name for a in before.autoscalers}
        or (after.model_patches and after.model_patches != before.model_patches)
    )


def _inject_report_token(plan: Plan, token: str) -> None:
    """Give every new worker its job's LC report token (what the LC checks on each report)."""
    for worker in plan.create_workers:
        for container in worker.pod["spec"]["containers"]:
            env = container.setdefault("env", [])
            if not any(e.get("name") == REPORT_TOKEN_ENV for e in env):
                env.append({"name": REPORT_TOKEN_ENV, "value": token})


def _inject_aggregation_env(plan: Plan, secret: str, namespace: str, kind: str, name: str) -> None:
    """Give an FL job's aggregator its key and each trainer its client id and token (the same
    values the local runtime injects: both call :func:`aggregation_env`)."""
    for worker in plan.create_workers:
        slot = ((worker.pod.get("metadata") or {}).get("labels") or {}).get("sedna.io/worker-key")
        extra = aggregation_env(secret, namespace, kind, name, worker.role, slot)
        for container in worker.pod["spec"]["containers"] if extra else []:
            env = container.setdefault("env", [])
            have = {e.get("name") for e in env}
            env.extend({"name": k, "value": v} for k, v in extra.items() if k not in have)


def _inject_env(plan: Plan, values: Mapping[str, str]) -> None:
    """Add ``values`` to every new worker's containers (env the manifest sets is kept)."""
    for worker in plan.create_workers if values else []:
        for container in worker.pod["spec"]["containers"]:
            env = container.setdefault("env", [])
            have = {e.get("name") for e in env}
            env.extend({"name": k, "value": v} for k, v in values.items() if k not in have)


class Engine:
    """Reconciles resources on demand; see the module docstring for the guarantees."""

    def __init__(self, client: KubeClient, config: OperatorConfig, controllers: Mapping[str, Any]):
        self.client = client
        self.config = config
        self.cache = WatchCache()
        self.reads = Reads(client, self.cache)
        self.controllers = dict(controllers)
        self.workers = WorkerCounts()
        self.errors = 0
        self.reconciles = 0
        self._requested: dict[Key, int] = {}
        self._completed: dict[Key, int] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._backoff: dict[Key, float] = {}
        self._invalid: dict[Key, str | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # essence() of the resource as our last write left it (or as the last reconcile saw it).
        self._known: dict[Key, str] = {}
        self._soon: dict[Key, asyncio.TimerHandle] = {}
        # Names of the Deployments and HPAs the last reconcile of a resource created or replaced.
        self._created: dict[Key, set[str]] = {}
        self.skipped = 0  # watch events of the resource that needed no reconcile

    # Triggers ----------------------------------------------------------------------------

    def kick(self, key: Key) -> None:
        """Reconcile ``key`` soon, from synchronous code (timers, callbacks)."""
        task = asyncio.get_running_loop().create_task(self.reconcile(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def created_here(self, key: Key, child: str) -> bool:
        """Whether our last reconcile of ``key`` created ``child`` (answered once per creation):
        its ADDED event is our own write, which that reconcile already planned with."""
        names = self._created.get(key)
        if names is None or child not in names:
            return False
        names.discard(child)
        return True

    def kick_soon(self, key: Key, delay: float) -> None:
        """Reconcile ``key`` in ``delay`` seconds, once however often this is called meanwhile
        (a burst of child events, e.g. two Deployments and their pods appearing, is one reconcile)."""
        if key in self._soon:
            return

        def fire() -> None:
            self._soon.pop(key, None)
            self.kick(key)

        self._soon[key] = asyncio.get_running_loop().call_later(delay, fire)

    async def reconcile(self, key: Key, seen: Mapping[str, Any] | None = None) -> None:
        """Reconcile ``key`` unless a reconcile that started after this call has already finished,
        or ``seen`` (the resource as a watch event showed it) is what we wrote or reconciled last."""
        if key.kind not in self.controllers:
            return
        ticket = self._requested[key] = self._requested.get(key, 0) + 1
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self._completed.get(key, 0) >= ticket:
                return
            if seen is not None and self._known.get(key) == essence(seen):
                self.skipped += 1
                return
            started = self._requested[key]
            try:
                await self._reconcile_once(key)
            finally:
                self._completed[key] = started

    # One reconcile ---------------------------------------------------------------------

    async def _reconcile_once(self, key: Key) -> None:
        began = time.perf_counter()
        try:
            body = await self._get(key)
            if body is None or body["metadata"].get("deletionTimestamp"):
                self.forget(key)
                return
            applied, plan = await self._run(key, body)
        except ResourceValidationError as exc:
            await self._invalid_resource(key, exc)
            return
        except ApiError as exc:
            if _namespace_terminating(exc) or _namespace_gone(exc, key.namespace):
                # everything in it is going (or gone): nothing to do
                log.debug("%s: namespace is being deleted, not reconciled", key)
                self.forget(key)
            else:
                self._failed(key, exc)
            return
        except Exception as exc:
            self._failed(key, exc)
            return
        finally:
            LATENCY.labels(kind=key.kind).observe(time.perf_counter() - began)
        self.reconciles += 1
        RECONCILES.labels(kind=key.kind, result="finished" if plan.finished else "ok").inc()
        self._backoff.pop(key, None)
        # A finished resource is looked at again only to delete it (ttlSecondsAfterFinished).
        self._schedule(key, plan.expires_in if plan.finished else plan.requeue_after)
        if applied.created or applied.deleted or applied.status_patched:
            log.info("reconciled %s: %s", key, applied, extra={"resource": str(key)})

    async def _get(self, key: Key) -> dict[str, Any] | None:
        return await self.reads.resource(key.kind, key.namespace, key.name)

    async def _run(self, key: Key, body: dict[str, Any]) -> tuple[AppliedPlan, Plan]:
        resource, obs = await observe(self.reads, self.config, body)
        self._invalid.pop(key, None)
        plan: Plan = self.controllers[key.kind].reconcile(obs)
        if self.config.lc_secret and plan.create_workers:  # kinds without workers (Dataset) get no token
            _inject_report_token(plan, report_token(self.config.lc_secret, key.namespace, key.kind, key.name))
            _inject_aggregation_env(plan, self.config.lc_secret, key.namespace, key.kind, key.name)
        _inject_env(plan, market_env(self.config.market_job_key, key.namespace, key.kind, key.name))
        existing = frozenset(w.name for w in obs.workers)
        # Noted before applying: the watch may deliver a creation before apply_plan returns.
        self._created[key] = {w.name for w in plan.create_workers if w.deployment is not None} | {
            a.name for a in plan.autoscalers
        }
        applied = await apply_plan(self.client, body, resource, plan, existing, cache=self.cache)
        self.workers.set((key.kind, key.namespace, key.name), [w.phase for w in obs.workers])
        self._known[key] = essence(applied.written if applied.written is not None else body)
        if applied.written is not None and self._after_own_write(key, obs, plan, applied.written, existing):
            self.kick(key)
        return applied, plan

    def _after_own_write(
        self, key: Key, obs: Observation, plan: Plan, written: dict[str, Any], existing: frozenset[str]
    ) -> bool:
        """Run the reconciler, in memory, on the object our write produced (children as just
        observed): whether it would take another step, which then needs a real reconcile."""
        try:
            base = namespace_base(self.config.relative_path_root, key.namespace)
            after = obs.model_copy(
                update={
                    "resource": parse_resource(resolve_relative_paths(written, base)),
                    "reports": reports_of(written),
                    "lc_files": lc_files_of(written),
                }
            )
            again: Plan = self.controllers[key.kind].reconcile(after)
        except Exception as exc:  # when in doubt, look again for real
            log.debug("in-memory pass of %s failed: %s", key, exc)
            return True
        return _more_to_do(plan, again, written.get("status") or {}, existing)

    async def _invalid_resource(self, key: Key, exc: ResourceValidationError) -> None:
        """A spec the models reject: say so once per resourceVersion, then wait for an edit."""
        RECONCILES.labels(kind=key.kind, result="invalid").inc()
        body = await self._get(key)
        if body is None:
            return
        version = body["metadata"].get("resourceVersion")
        if self._invalid.get(key) == version:
            return
        self._invalid[key] = version
        log.warning("%s is invalid: %s", key, exc)
        await post_event(
            self.client, object_ref(body), EventPlan(type="Warning", reason="InvalidSpec", message=str(exc))
        )

    def _failed(self, key: Key, exc: Exception) -> None:
        self.errors += 1
        ERRORS.labels(kind=key.kind, error=type(exc).__name__).inc()
        RECONCILES.labels(kind=key.kind, result="error").inc()
        delay = min(self._backoff.get(key, self.config.retry_initial / 2) * 2, self.config.retry_max)
        self._backoff[key] = delay
        log.error(
            "reconcile of %s failed (retry in %.1fs): %s",
            key,
            delay,
            exc,
            exc_info=not isinstance(exc, ApiError),
        )
        self._schedule(key, delay)

    # Scheduling ------------------------------------------------------------------------

    def _schedule(self, key: Key, delay: float | None) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        if delay is not None:
            self._timers[key] = asyncio.get_running_loop().call_later(max(delay, 0.0), self.kick, key)

    def forget(self, key: Key) -> None:
        """The resource is gone or going: drop its schedule, what we remember and its metrics."""
        self._schedule(key, None)
        soon = self._soon.pop(key, None)
        if soon is not None:
            soon.cancel()
        self._backoff.pop(key, None)
        self._invalid.pop(key, None)
        self._known.pop(key, None)
        self._created.pop(key, None)
        self.workers.drop((key.kind, key.namespace, key.name))

    async def cleanup(self, key: Key, body: dict[str, Any]) -> None:
        """Run the kind's ``cleanup(obs)`` on a resource being deleted (best effort)."""
        self.forget(key)
        module = self.controllers.get(key.kind)
        if module is None or not hasattr(module, "cleanup"):
            return
        try:
            resource, obs = await observe(self.reads, self.config, body)
            await apply_plan(self.client, body, resource, module.cleanup(obs), cache=self.cache)
        except ApiError as exc:
            if not exc.not_found:
                log.warning("cleanup of %s: %s", key, exc)
        except Exception as exc:
            log.warning("cleanup of %s failed: %s", key, exc)

    async def resync(self) -> None:
        """Reconcile every resource of the handled kinds once (the safety net for missed events)."""
        namespaces: tuple[str | None, ...] = self.config.namespaces or (None,)
        for kind in self.controllers:
            for ns in namespaces:
                plural = KINDS[kind].plural
                path = f"/apis/sedna.io/v1alpha1/{plural}" if ns is None else resource_path(kind, ns)
                try:
                    items = (await self.client.request("GET", path)).get("items") or []
                except ApiError as exc:
                    log.warning("resync of %s failed: %s", plural, exc)
                    continue
                for item in items:
                    self.kick(Key(kind, item["metadata"]["namespace"], item["metadata"]["name"]))

    async def close(self) -> None:
        for handle in [*self._timers.values(), *self._soon.values()]:
            handle.cancel()
        self._timers.clear()
        self._soon.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close()
