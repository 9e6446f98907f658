"""Observe -> reconcile -> apply, for every resource in the store (the local "operator").

:class:`LocalRuntime` is I/O glue around the pure reconcilers: it reads the store and the
runner, builds the :class:`~sedna_operator.controllers.plan.Observation` with the core
(:mod:`sedna_operator.core.observation`, as the Kubernetes runtime does), calls the kind's
``reconcile`` (:mod:`sedna_operator.core.registry`), and applies the
:class:`~sedna_operator.controllers.plan.Plan`. The LC's reports are first copied into the
resource's ``status.reports`` (:meth:`LocalRuntime._record_reports`), where the observation
reads them, as on a cluster.
Everything it decides from is in SQLite, so a new ``LocalRuntime`` on the same state directory
continues where a killed one stopped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...api import parse_resource
from ...controllers.plan import Observation, ObservedWorker, Plan, WorkerReport
from ...core import registry
from ...core.merge import merge_patch
from ...core.observation import credential_names, observation, referenced_names
from ...core.registry import JOB_KINDS, SERVICE_KINDS, SETTLING_KINDS, KindController, Reconciler
from ...core.reports import report_to_wire, reports_of
from ...core.secrets import decode_secret
from ...core.times import parse_time
from ...lc.spool import BUFFER_ENV, buffer_dir, deliver_buffered_reports
from .images import ImageMap
from .podenv import PodContext, PodProcesses, ServiceInfo, default_base_env, pod_processes
from .ports import free_port, port_is_free
from .probes import probe_port, tcp_ready
from .runner import Runner
from .store import ResourceRow, Store, WorkerRow, now_iso

__all__ = [
    "LocalRuntime",
    "RuntimeConfig",
    "KindController",
    "Reconciler",
    "load_reconcilers",
    "JOB_KINDS",
    "SERVICE_KINDS",
]

log = logging.getLogger("sedna.local")

REPORT_TOKEN_ENV = "SEDNA_REPORT_TOKEN"


def load_reconcilers() -> dict[str, KindController]:
    """Every kind's controller, from the one registry (:mod:`sedna_operator.core.registry`)."""
    return registry.controllers()


@dataclass
class RuntimeConfig:
    lc_url: str
    image_map: ImageMap = field(default_factory=ImageMap)
    kb_url: str | None = None
    lc_secret: str | None = None
    #: key shared with a market (env SEDNA_MARKET_JOB_KEY of `sedna run`): LL workers get their
    #: own market token (MARKET_API_TOKEN), as on a cluster
    market_job_key: str | None = None
    always_remap_ports: bool = False
    host_path: Callable[[str], str] = lambda p: p


#: (namespace, kind, name) -> the LC's latest report of each worker of that resource
ReportSource = Callable[[str, str, str], Mapping[str, WorkerReport]]
CountSource = Callable[[str, str], int | None]
Hook = Callable[["LocalRuntime", ResourceRow], Mapping[str, bool]]


def _no_reports(_ns: str, _kind: str, _name: str) -> Mapping[str, WorkerReport]:
    return {}


def report_token(secret: str, namespace: str, kind: str, name: str) -> str:
    from ...lc.auth import report_token as lc_token

    return lc_token(secret, namespace, kind, name)


def _named(name: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with ``metadata.name`` set (stored objects are keyed by name; the core reads it there)."""
    return {**body, "metadata": {**(body.get("metadata") or {}), "name": name}}


def _service_info(
    namespace: str, name: str, body: Mapping[str, Any], ports: Mapping[int, int]
) -> ServiceInfo:
    selector = (body.get("spec") or {}).get("selector") or {}
    return ServiceInfo(name, namespace, selector, dict(ports))


def _writes_nothing(plan: Plan, finished: bool) -> bool:
    """The plan changes nothing but (maybe) records events."""
    return plan.model_copy(update={"events": []}).model_dump() == Plan(finished=finished).model_dump()


class PassCache:
    """What the observations and worker starts of one pass share, read from the store once.

    Reading these per resource made a pass quadratic: every ``observe`` listed (and parsed)
    every resource of its namespace for its Datasets and Models, and opened every Secret;
    every service plan listed every service. 1,000 Datasets were ~1M rows and a minute per
    pass. Each part is read on first use, and what the loop itself writes during the pass
    (Dataset status, services, removals) is folded in, so an observation sees the same state
    as reading the store at that moment would (nothing else writes these during a run).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        # raw objects (metadata.name set), converted by the core per observation: only the few
        # an observation names are converted, so a pass stays linear
        self._datasets: dict[str, dict[str, dict[str, Any]]] | None = None
        self._models: dict[str, dict[str, dict[str, Any]]] | None = None
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._services: dict[tuple[str, str], ServiceInfo] | None = None
        self._workers: dict[tuple[str, str, str], list[WorkerRow]] | None = None

    def _load(self) -> None:
        datasets: dict[str, dict[str, dict[str, Any]]] = {}
        models: dict[str, dict[str, dict[str, Any]]] = {}
        for row in self.store.list("Dataset"):
            datasets.setdefault(row.namespace, {})[row.name] = _named(row.name, row.obj)
        for row in self.store.list("Model"):
            models.setdefault(row.namespace, {})[row.name] = _named(row.name, row.obj)
        self._datasets, self._models = datasets, models

    def datasets(self, namespace: str) -> dict[str, dict[str, Any]]:
        """The namespace's Dataset objects by name (read-only: shared by the pass)."""
        if self._datasets is None:
            self._load()
        assert self._datasets is not None
        return self._datasets.get(namespace) or {}

    def models(self, namespace: str) -> dict[str, dict[str, Any]]:
        """The namespace's Model objects by name (read-only: shared by the pass)."""
        if self._models is None:
            self._load()
        assert self._models is not None
        return self._models.get(namespace) or {}

    def objects(self, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
        """Secrets / ConfigMaps (only ``sedna run``'s start writes them)."""
        if kind not in self._objects:
            self._objects[kind] = self.store.objects(kind)
        return self._objects[kind]

    def workers(self, kind: str, namespace: str, name: str) -> list[WorkerRow]:
        """The workers of one owner as they were when first asked this pass. Only the owner's
        own reconcile (after its observation) and the runner's sync (before any) change them."""
        if self._workers is None:
            self._workers = {}
            for w in self.store.workers():
                self._workers.setdefault((w.owner_kind, w.owner_namespace, w.owner_name), []).append(w)
        return list(self._workers.get((kind, namespace, name)) or [])

    def services(self) -> dict[tuple[str, str], ServiceInfo]:
        if self._services is None:
            self._services = {
                (row.namespace, row.name): _service_info(
                    row.namespace, row.name, json.loads(row.body), row.port_map
                )
                for row in self.store.services()
            }
        return self._services

    def noted(self, kind: str, namespace: str, name: str, body: Mapping[str, Any] | None) -> None:
        """The loop wrote ``body`` (None: removed) for a resource: keep the cache equal to the store."""
        if kind == "Dataset" and self._datasets is not None:
            part = self._datasets.setdefault(namespace, {})
            if body is None:
                part.pop(name, None)
            else:
                part[name] = _named(name, body)
        elif kind == "Model" and self._models is not None:
            mpart = self._models.setdefault(namespace, {})
            if body is None:
                mpart.pop(name, None)
            else:
                mpart[name] = _named(name, body)

    def forget_services(self) -> None:
        self._services = None

    def service_noted(self, namespace: str, name: str, info: ServiceInfo | None) -> None:
        if self._services is None:
            return
        if info is None:
            self._services.pop((namespace, name), None)
        else:
            self._services[(namespace, name)] = info


class LocalRuntime:
    """One reconcile pass per :meth:`step`; :meth:`done` tells when every job has finished."""

    def __init__(
        self,
        store: Store,
        config: RuntimeConfig,
        controllers: Mapping[str, KindController],
        *,
        reports: ReportSource = _no_reports,
        dataset_counts: CountSource | None = None,
        all_dataset_counts: Callable[[], Mapping[tuple[str, str], int]] | None = None,
        hooks: list[Hook] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.config = config
        self.controllers = dict(controllers)
        self.reports = reports
        self.dataset_counts = dataset_counts
        #: every count at once (one query a pass), preferred to ``dataset_counts`` when given
        self.all_dataset_counts = all_dataset_counts
        self.hooks = list(hooks or [])
        self.clock = clock
        self.runner = Runner(store, self.build_processes)
        self.runner.on_exit = self._deliver_buffered_reports
        self.errors: dict[str, str] = {}
        #: the current pass's shared reads (None between passes: each use reads afresh)
        self.cache: PassCache | None = None
        #: resourceVersion at which a SETTLING_KINDS resource last reconciled to an empty plan
        self.settled: dict[tuple[str, str, str], str] = {}
        #: asked between resources: True ends the pass early (SIGTERM, ``--timeout``), so a
        #: pass over thousands of resources never delays a stop by more than one reconcile
        self.should_stop: Callable[[], bool] = lambda: False
        #: whether the last :meth:`step` reconciled every resource (not cut short by a stop)
        self.pass_complete = False

    def _cache(self) -> PassCache:
        return self.cache if self.cache is not None else PassCache(self.store)

    # ---- pods -> processes -----------------------------------------------------------------

    def service_infos(self) -> list[ServiceInfo]:
        return list(self._cache().services().values())

    def build_processes(self, row: WorkerRow) -> PodProcesses:
        pod = row.pod_obj
        owner = self.store.get(row.owner_kind, row.owner_namespace, row.owner_name)
        default_dir = Path(owner.source).parent if owner is not None and owner.source else None
        ctx = PodContext(
            lc_url=self.config.lc_url,
            pod_dir=self.store.pods_dir / row.name,
            default_image_dir=default_dir,
            image_map=self.config.image_map,
            kb_url=self.config.kb_url,
            secrets={k: decode_secret(v) for k, v in self._cache().objects("Secret").items()},
            configmaps={
                k: {kk: str(vv) for kk, vv in (v.get("data") or {}).items()}
                for k, v in self._cache().objects("ConfigMap").items()
            },
            services=self.service_infos(),
            host_path=self.config.host_path,
            base_env=default_base_env(),
        )
        procs = pod_processes(pod, ctx)
        if self.config.lc_secret and REPORT_TOKEN_ENV not in procs.main.env:
            procs.main.env[REPORT_TOKEN_ENV] = report_token(
                self.config.lc_secret, row.owner_namespace, row.owner_kind, row.owner_name
            )
        if self.config.lc_secret:  # FL aggregation credentials: the same helper as the kubernetes runtime
            from ...lc.auth import aggregation_env

            slot = ((pod.get("metadata") or {}).get("labels") or {}).get("sedna.io/worker-key")
            for k, v in aggregation_env(
                self.config.lc_secret, row.owner_namespace, row.owner_kind, row.owner_name, row.role, slot
            ).items():
                procs.main.env.setdefault(k, v)
        from ...lc.auth import market_env

        for k, v in market_env(self.config.market_job_key, row.owner_namespace, row.owner_kind, row.owner_name).items():
            procs.main.env.setdefault(k, v)
        # reports the LC does not take (sedna run is down) survive the worker's end
        procs.main.env.setdefault(BUFFER_ENV, str(buffer_dir(self.store.pods_dir / row.name)))
        return procs

    def _deliver_buffered_reports(self, row: WorkerRow) -> None:
        """The reports a worker buffered and could not deliver before it ended (see ``spool``)."""
        token = (
            report_token(self.config.lc_secret, row.owner_namespace, row.owner_kind, row.owner_name)
            if self.config.lc_secret
            else None
        )
        deliver_buffered_reports(self.store.pods_dir / row.name, self.config.lc_url, token)

    # ---- observation -----------------------------------------------------------------------

    def observe(self, row: ResourceRow) -> Observation:
        obj = row.obj
        resource = parse_resource(obj)
        ns = row.namespace
        workers = []
        services: list[ServiceInfo] | None = None
        cache = self._cache()
        for w in cache.workers(row.kind, ns, row.name):
            pod = w.pod_obj
            meta = pod.get("metadata") or {}
            ready: bool | None = None
            if w.phase == "Running" and probe_port(pod) is not None:
                services = self.service_infos() if services is None else services
                ready = tcp_ready(pod, services)
            workers.append(
                ObservedWorker(
                    name=w.name,
                    role=w.role,
                    phase=w.phase,
                    exit_code=w.exit_code,
                    node=(pod.get("spec") or {}).get("nodeName") or "localhost",
                    restarts=w.restarts,
                    created_at=parse_time(w.created_at),
                    deleting=w.deleting,
                    labels=dict(meta.get("labels") or {}),
                    annotations=dict(meta.get("annotations") or {}),
                    template_hash=w.template_hash or None,
                    ready=ready,
                )
            )
        # What the spec names, as the Kubernetes runtime reads it (a Dataset or Model sees itself:
        # its reconciler reads its own count)
        ds_names, model_names, secret_names = referenced_names(obj.get("spec") or {})
        if row.kind == "Dataset":
            ds_names.add(row.name)
        elif row.kind == "Model":
            model_names.add(row.name)
        all_ds, all_models = cache.datasets(ns), cache.models(ns)
        ds_objs = [all_ds[n] for n in sorted(ds_names) if n in all_ds]
        model_objs = [all_models[n] for n in sorted(model_names) if n in all_models]
        secret_names |= credential_names([*ds_objs, *model_objs])
        all_secrets = cache.objects("Secret")
        secret_objs = [_named(n, all_secrets[(ns, n)]) for n in sorted(secret_names) if (ns, n) in all_secrets]
        return observation(
            resource,
            now=self.clock(),
            workers=workers,
            datasets=ds_objs,
            models=model_objs,
            secrets=secret_objs,
            # as on a cluster, the reports are read from the resource's status.reports
            reports=reports_of(obj),
            lc_server=self.config.lc_url,
            kb_server=self.config.kb_url or "http://127.0.0.1:9020",
        )

    def _record_reports(self, row: ResourceRow) -> None:
        """Write the LC's newest report of each of ``row``'s workers to ``status.reports.<worker>``
        (the cluster's contract: reports live in the resource's status).

        The embedded LC keeps reports in its own SQLite file (``lc.db``, the replay guard's
        memory) and this loop copies them over: the loop stays the only writer of ``state.db``,
        whose read-modify-write of a status would otherwise race the LC's thread."""
        if row.kind in SETTLING_KINDS:
            return  # Datasets and Models own no workers, so nothing reports for them: no query
        stored = reports_of(row.obj)
        fresh = self.reports(row.namespace, row.kind, row.name)
        new = {worker: report_to_wire(r) for worker, r in fresh.items() if stored.get(worker) != r}
        if new:
            body = self.store.patch_status(row.kind, row.namespace, row.name, {"reports": new})
            if body is not None:
                row.body = json.dumps(body)  # a detached row: what observe reads next

    # ---- applying --------------------------------------------------------------------------

    def _allocate(self, service: Mapping[str, Any]) -> dict[int, int]:
        used = {p for info in self._cache().services().values() for p in info.ports.values()}
        ports: dict[int, int] = {}
        for port in (service.get("spec") or {}).get("ports") or []:
            declared = int(port.get("port"))
            target = port.get("targetPort", declared)
            actual = declared
            if self.config.always_remap_ports or declared in used or not port_is_free(declared):
                actual = free_port()
                while actual in used:
                    actual = free_port()
            used.add(actual)
            ports[declared] = actual
            if isinstance(target, int) or str(target).isdigit():
                ports[int(target)] = actual
        return ports

    def apply_plan(self, row: ResourceRow, plan: Plan) -> None:
        kind, ns, name = row.kind, row.namespace, row.name
        for svc in plan.services:
            body = svc.service
            sns = (body.get("metadata") or {}).get("namespace") or ns
            if (sns, svc.name) not in self._cache().services():
                ports = self._allocate(body)
                self.store.put_service(sns, svc.name, kind, name, body, ports)
                if self.cache is not None:
                    self.cache.service_noted(sns, svc.name, _service_info(sns, svc.name, body, ports))
        for svc_name in plan.delete_services:
            self.store.remove_service(ns, svc_name)
            if self.cache is not None:
                self.cache.service_noted(ns, svc_name, None)
        for worker in plan.delete_workers:
            self.runner.delete(worker)
        for wp in plan.create_workers:
            if self.store.worker(wp.name) is not None:
                continue
            wrow = WorkerRow(
                name=wp.name,
                owner_kind=kind,
                owner_namespace=ns,
                owner_name=name,
                role=wp.role,
                pod=json.dumps(wp.pod),
                template_hash=wp.template_hash,
                phase="Pending",
                log_path=str(self.runner.log_path(wp.name)),
                created_at=now_iso(),
            )
            self.store.add_worker(wrow)
            self.runner.start(wrow)
            started = self.store.worker(wp.name)
            if started is not None and started.phase == "Failed" and started.message:
                self.store.add_event(
                    kind, ns, name, "Warning", "FailedCreate", f"{wp.name}: {started.message}"
                )
        if plan.status_patch:
            self._noted(kind, ns, name, self.store.patch_status(kind, ns, name, plan.status_patch))
        for model, patch in plan.model_patches.items():
            self._noted("Model", ns, model, self.store.patch_status("Model", ns, model, patch))
        self.store.set_annotations(kind, ns, name, plan.annotations)
        for ev in plan.events:
            self.store.add_event(kind, ns, name, ev.type, ev.reason, ev.message)
        if plan.finished != row.finished:
            self.store.set_finished(kind, ns, name, plan.finished)

    def _noted(self, kind: str, namespace: str, name: str, body: Mapping[str, Any] | None) -> None:
        if self.cache is not None and body is not None:
            self.cache.noted(kind, namespace, name, body)

    def _sync_datasets(self) -> None:
        known = self.all_dataset_counts() if self.all_dataset_counts is not None else None
        one = self.dataset_counts
        if known is None and one is None:
            return
        patches: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.store.list("Dataset"):
            if self.should_stop():
                break  # what was counted so far is still written
            if known is not None:
                count = known.get((row.namespace, row.name))
            else:
                assert one is not None
                count = one(row.namespace, row.name)
            status = row.obj.get("status") or {}
            if count is not None and count != status.get("numberOfSamples"):
                patches[(row.namespace, row.name)] = {"numberOfSamples": count, "updateTime": now_iso()}
        for (ns, name), body in self.store.patch_statuses("Dataset", patches).items():
            self._noted("Dataset", ns, name, body)

    def _delete(self, row: ResourceRow) -> None:
        controller = self.controllers.get(row.kind)
        if controller is not None and controller.cleanup is not None:
            try:
                self.apply_plan(row, controller.cleanup(self.observe(row)))
            except Exception as exc:  # cleanup is best effort: the resource goes anyway
                log.warning("cleanup of %s/%s failed: %s", row.kind, row.name, exc)
        for w in self.store.workers(row.kind, row.namespace, row.name):
            self.runner.delete(w.name)
        self.store.remove(row.kind, row.namespace, row.name)
        self.settled.pop((row.kind, row.namespace, row.name), None)
        if self.cache is not None:
            self.cache.noted(row.kind, row.namespace, row.name, None)
            self.cache.forget_services()  # the store dropped the resource's services with it

    def step(self) -> None:
        """One pass: poll processes, then reconcile every unfinished resource once.

        The cost is linear in the number of resources: the shared reads are made once per pass
        (:class:`PassCache`), and a Dataset or Model that reconciled to an empty plan is not
        reconciled again until its object changes. :attr:`should_stop` is asked between
        resources; a pass it cuts short leaves every resource either reconciled or untouched
        (each apply is its own transactions), and the next pass or run goes on from there.
        """
        self.cache = PassCache(self.store)
        self.pass_complete = False
        try:
            self.runner.sync()
            self._sync_datasets()
            self.pass_complete = self._reconcile_all()
        finally:
            self.cache = None

    def _reconcile_all(self) -> bool:
        # Status patches of Datasets and Models (counts, update times) are written together
        # when the pass ends, even cut short: one transaction for thousands instead of one
        # each (a commit per Dataset was most of a first pass). The pass cache shows them to
        # the observations that follow, as the store would.
        deferred: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        try:
            return self._reconcile_rows(deferred)
        finally:
            for kind, patches in deferred.items():
                self.store.patch_statuses(kind, patches)

    def _reconcile_rows(self, deferred: dict[str, dict[tuple[str, str], dict[str, Any]]]) -> bool:
        for row in self.store.list():
            if self.should_stop():
                return False
            key = f"{row.kind}/{row.namespace}/{row.name}"
            if row.delete_requested:
                self._delete(row)
                continue
            controller = self.controllers.get(row.kind)
            if controller is None or row.finished:
                continue
            ident = (row.kind, row.namespace, row.name)
            version = str((row.obj.get("metadata") or {}).get("resourceVersion", ""))
            if row.kind in SETTLING_KINDS and self.settled.get(ident) == version:
                continue
            try:
                lc_files: dict[str, bool] = {}
                for hook in self.hooks:
                    lc_files.update(hook(self, row))
                self._record_reports(row)
                obs = self.observe(row)
                if lc_files:
                    obs = obs.model_copy(update={"lc_files": lc_files})
                plan = controller.reconcile(obs)
                rest = plan.model_copy(update={"status_patch": {}})
                if row.kind in SETTLING_KINDS and plan.status_patch and _writes_nothing(rest, row.finished):
                    deferred.setdefault(row.kind, {})[(row.namespace, row.name)] = plan.status_patch
                    body = row.obj
                    body["status"] = merge_patch(body.get("status") or {}, plan.status_patch)
                    self._noted(row.kind, row.namespace, row.name, body)
                    self.apply_plan(row, rest)  # its events
                else:
                    self.apply_plan(row, plan)
                self.errors.pop(key, None)
                if row.kind in SETTLING_KINDS:
                    if _writes_nothing(plan, row.finished) and not plan.events:
                        self.settled[ident] = version
                    else:  # it wrote: the next pass looks again (and then plans nothing)
                        self.settled.pop(ident, None)
            except Exception as exc:  # one broken resource must not stop the others
                message = f"{type(exc).__name__}: {exc}"
                if self.errors.get(key) != message:
                    log.warning("reconcile %s failed: %s", key, message, exc_info=True)
                    self.store.add_event(
                        row.kind, row.namespace, row.name, "Warning", "ReconcileError", message
                    )
                self.errors[key] = message
        return True

    def service_done(self, row: ResourceRow) -> bool:
        """A service (JI) is done locally once one of its workers ended on its own with exit 0
        and is not restarted (restartPolicy OnFailure/Never): a client that processed a finite
        stream. A service whose workers serve forever runs until Ctrl-C or ``--timeout``."""
        return row.finished or any(
            w.phase == "Succeeded" and not w.deleting
            for w in self.store.workers(row.kind, row.namespace, row.name)
        )

    def done(self) -> bool:
        """Every job finished and every service (JI) done (see :meth:`service_done`)."""
        rows = self.store.list()
        if any(r.kind in SERVICE_KINDS and not self.service_done(r) for r in rows):
            return False
        return all(r.finished for r in rows if r.kind in JOB_KINDS and r.kind in self.controllers)

    def _finished_owners(self) -> set[tuple[str, str, str]]:
        return {
            (r.kind, r.namespace, r.name)
            for r in self.store.list()
            if r.finished or (r.kind in SERVICE_KINDS and self.service_done(r))
        }

    def draining(self) -> list[str]:
        """Workers of finished jobs whose process still runs (an IL/LL inference worker
        finishing its stream): ``sedna run`` gives them ``--drain`` seconds to exit."""
        finished = self._finished_owners()
        return [
            w.name
            for w in self.store.workers()
            if (w.owner_kind, w.owner_namespace, w.owner_name) in finished
            and w.phase == "Running"
            and w.pid is not None
            and w.owner_kind in JOB_KINDS
        ]

    def stop_finished_workers(self) -> None:
        """Stop processes still running for finished jobs and done services (e.g. an idle server)."""
        finished = self._finished_owners()
        for w in self.store.workers():
            if (w.owner_kind, w.owner_namespace, w.owner_name) in finished and w.phase == "Running":
                self.runner.stop(w)
                self.store.update_worker(w.name, phase="Succeeded", pid=None, finished_at=now_iso())


def new_secret(store: Store) -> str:
    """The LC token key of this state directory (created once in ``state.key``, kept for resumed
    runs; never stored in ``state.db``)."""
    return store.lc_secret


__all__ += ["new_secret"]
