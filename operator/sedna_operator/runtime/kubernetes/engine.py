"""The reconcile loop of one resource: observe -> ``controllers.<kind>.reconcile`` -> apply.

Every kopf handler (the resource's create/update/resume, events of its pods and services,
LC reports landing on its status) ends in :meth:`Engine.reconcile`, which

- serialises reconciles of one resource (pods and the resource are watched by different kopf
  workers, so two triggers may arrive at once) and coalesces triggers that arrive while one
  runs into a single follow-up reconcile;
- always reads fresh state from the API server, so the outcome never depends on which
  trigger came first or on anything remembered in this process;
- schedules the next look (``plan.requeue_after``, or a growing back-off after an error).

The schedule is the only thing held in memory, and losing it is harmless: at start-up kopf
calls the ``resume`` handler of every existing resource, which reconciles it and schedules
again. We use this instead of ``kopf.timer`` because kopf holds a finalizer on every object
with a timer, and a finalizer would block ``kubectl delete`` whenever the operator is down;
owner references and the garbage collector already remove workers, so we need none.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from ...api import KINDS, ResourceValidationError
from ...controllers.plan import EventPlan, Observation, Plan
from ...lc.auth import REPORT_TOKEN_ENV, aggregation_env, market_env, report_token
from .apply import AppliedPlan, apply_plan, object_ref, post_event
from .client import ApiError, KubeClient
from .config import OperatorConfig
from .metrics import ERRORS, LATENCY, RECONCILES, WorkerCounts
from .observe import observe, resource_path

__all__ = ["Key", "Engine", "Controller", "CONTROLLER_MODULES", "load_controllers"]

log = logging.getLogger("sedna.operator")

# Kind -> module of sedna_operator.controllers holding ``reconcile(obs)`` and ``cleanup(obs)``.
CONTROLLER_MODULES: dict[str, str] = {
    "JointInferenceService": "jointinference",
    "FederatedLearningJob": "federatedlearning",
    "IncrementalLearningJob": "incrementallearning",
    "LifelongLearningJob": "lifelonglearning",
    "Dataset": "dataset",
}


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


def load_controllers(kinds: Mapping[str, str] = CONTROLLER_MODULES) -> dict[str, ModuleType]:
    """Import the reconcilers that exist; a kind whose module is missing is skipped (and logged)."""
    found = {}
    for kind, module in kinds.items():
        try:
            found[kind] = importlib.import_module(f"sedna_operator.controllers.{module}")
        except ImportError as exc:
            log.warning("no reconciler for %s (sedna_operator.controllers.%s): %s", kind, module, exc)
    return found


def _namespace_terminating(exc: ApiError) -> bool:
    """The API server refuses new objects in a namespace being deleted (403, NamespaceTerminating)."""
    return exc.status == 403 and "because it is being terminated" in str(exc)


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

    # Triggers ----------------------------------------------------------------------------

    def kick(self, key: Key) -> None:
        """Reconcile ``key`` soon, from synchronous code (timers, callbacks)."""
        task = asyncio.get_running_loop().create_task(self.reconcile(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reconcile(self, key: Key) -> None:
        """Reconcile ``key`` unless a reconcile that started after this call has already finished."""
        if key.kind not in self.controllers:
            return
        ticket = self._requested[key] = self._requested.get(key, 0) + 1
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self._completed.get(key, 0) >= ticket:
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
                self._forget(key)
                return
            applied, plan = await self._run(key, body)
        except ResourceValidationError as exc:
            await self._invalid_resource(key, exc)
            return
        except ApiError as exc:
            if _namespace_terminating(exc):  # everything in it is going away: nothing to do
                log.debug("%s: namespace is being deleted, not reconciled", key)
                self._forget(key)
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
        try:
            body: dict[str, Any] = await self.client.request(
                "GET", resource_path(key.kind, key.namespace, key.name)
            )
            return body
        except ApiError as exc:
            if exc.not_found:
                return None
            raise

    async def _run(self, key: Key, body: dict[str, Any]) -> tuple[AppliedPlan, Plan]:
        resource, obs = await observe(self.client, self.config, body)
        self._invalid.pop(key, None)
        plan: Plan = self.controllers[key.kind].reconcile(obs)
        if self.config.lc_secret and plan.create_workers:  # kinds without workers (Dataset) get no token
            _inject_report_token(plan, report_token(self.config.lc_secret, key.namespace, key.kind, key.name))
            _inject_aggregation_env(plan, self.config.lc_secret, key.namespace, key.kind, key.name)
        _inject_env(plan, market_env(self.config.market_job_key, key.namespace, key.kind, key.name))
        applied = await apply_plan(self.client, body, resource, plan, frozenset(w.name for w in obs.workers))
        self.workers.set((key.kind, key.namespace, key.name), [w.phase for w in obs.workers])
        return applied, plan

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

    def _forget(self, key: Key) -> None:
        """The resource is gone or going: drop its schedule and its metrics."""
        self._schedule(key, None)
        self._backoff.pop(key, None)
        self._invalid.pop(key, None)
        self.workers.drop((key.kind, key.namespace, key.name))

    async def cleanup(self, key: Key, body: dict[str, Any]) -> None:
        """Run the kind's ``cleanup(obs)`` on a resource being deleted (best effort)."""
        self._forget(key)
        module = self.controllers.get(key.kind)
        if module is None or not hasattr(module, "cleanup"):
            return
        try:
            resource, obs = await observe(self.client, self.config, body)
            await apply_plan(self.client, body, resource, module.cleanup(obs))
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
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close()
