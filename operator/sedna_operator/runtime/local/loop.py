"""Observe -> reconcile -> apply, for every resource in the store (the local "operator").

:class:`LocalRuntime` is I/O glue around the pure reconcilers: it builds an
:class:`~sedna_operator.controllers.plan.Observation` from the store, the runner and the LC's
sink, calls the kind's ``reconcile``, and applies the :class:`~sedna_operator.controllers.plan.Plan`.
Everything it decides from is in SQLite, so a new ``LocalRuntime`` on the same state directory
continues where a killed one stopped.
"""

from __future__ import annotations

import importlib
import json
import logging
import secrets as pysecrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ...api import parse_resource
from ...controllers.plan import (
    Observation,
    ObservedDataset,
    ObservedModel,
    ObservedSecret,
    ObservedWorker,
    Plan,
    WorkerReport,
)
from .images import ImageMap
from .lcserver import free_port, port_is_free
from .podenv import PodContext, PodProcesses, ServiceInfo, decode_secret, default_base_env, pod_processes
from .probes import probe_port, tcp_ready
from .runner import Runner
from .store import ResourceRow, Store, WorkerRow, now_iso

__all__ = ["LocalRuntime", "RuntimeConfig", "Reconciler", "load_reconcilers", "JOB_KINDS", "SERVICE_KINDS"]

log = logging.getLogger("sedna.local")

RECONCILER_MODULES = {
    "JointInferenceService": "jointinference",
    "FederatedLearningJob": "federatedlearning",
    "IncrementalLearningJob": "incrementallearning",
    "LifelongLearningJob": "lifelonglearning",
    "Dataset": "dataset",
}
JOB_KINDS = ("FederatedLearningJob", "IncrementalLearningJob", "LifelongLearningJob")
SERVICE_KINDS = ("JointInferenceService",)
REPORT_TOKEN_ENV = "SEDNA_REPORT_TOKEN"


class Reconciler(Protocol):
    def __call__(self, obs: Observation) -> Plan: ...


@dataclass
class KindController:
    reconcile: Reconciler
    cleanup: Reconciler | None = None


def load_reconcilers() -> dict[str, KindController]:
    """``sedna_operator.controllers.<module>.reconcile`` (and ``cleanup``) of every kind that has one."""
    found: dict[str, KindController] = {}
    for kind, module in RECONCILER_MODULES.items():
        try:
            mod = importlib.import_module(f"sedna_operator.controllers.{module}")
        except ImportError as exc:
            log.debug("no reconciler for %s: %s", kind, exc)
            continue
        if hasattr(mod, "reconcile"):
            found[kind] = KindController(mod.reconcile, getattr(mod, "cleanup", None))
    return found


@dataclass
class RuntimeConfig:
    lc_url: str
    image_map: ImageMap = field(default_factory=ImageMap)
    kb_url: str | None = None
    lc_secret: str | None = None
    always_remap_ports: bool = False
    host_path: Callable[[str], str] = lambda p: p


ReportSource = Callable[[str, str, str], Mapping[str, WorkerReport]]
CountSource = Callable[[str, str], int | None]
Hook = Callable[["LocalRuntime", ResourceRow], Mapping[str, bool]]


def _no_reports(_ns: str, _kind: str, _name: str) -> Mapping[str, WorkerReport]:
    return {}


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def report_token(secret: str, namespace: str, kind: str, name: str) -> str:
    from ...lc.auth import report_token as lc_token

    return lc_token(secret, namespace, kind, name)


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
        hooks: list[Hook] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.config = config
        self.controllers = dict(controllers)
        self.reports = reports
        self.dataset_counts = dataset_counts
        self.hooks = list(hooks or [])
        self.clock = clock
        self.runner = Runner(store, self.build_processes)
        self.errors: dict[str, str] = {}

    # ---- pods -> processes -----------------------------------------------------------------

    def service_infos(self) -> list[ServiceInfo]:
        out = []
        for row in self.store.services():
            body = json.loads(row.body)
            selector = (body.get("spec") or {}).get("selector") or {}
            out.append(ServiceInfo(row.name, row.namespace, selector, row.port_map))
        return out

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
            secrets={k: decode_secret(v) for k, v in self.store.objects("Secret").items()},
            configmaps={
                k: {kk: str(vv) for kk, vv in (v.get("data") or {}).items()}
                for k, v in self.store.objects("ConfigMap").items()
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
        return procs

    # ---- observation -----------------------------------------------------------------------

    def observe(self, row: ResourceRow) -> Observation:
        obj = row.obj
        resource = parse_resource(obj)
        ns = row.namespace
        workers = []
        services: list[ServiceInfo] | None = None
        for w in self.store.workers(row.kind, ns, row.name):
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
                    created_at=_parse_time(w.created_at),
                    deleting=w.deleting,
                    labels=dict(meta.get("labels") or {}),
                    annotations=dict(meta.get("annotations") or {}),
                    template_hash=w.template_hash or None,
                    ready=ready,
                )
            )
        datasets = {}
        models = {}
        for other in self.store.list(namespace=ns):
            if other.kind == "Dataset":
                body = other.obj
                spec = body.get("spec") or {}
                datasets[other.name] = ObservedDataset(
                    name=other.name,
                    url=str(spec.get("url", "")),
                    format=str(spec.get("format", "")),
                    node_name=str(spec.get("nodeName", "")),
                    number_of_samples=int((body.get("status") or {}).get("numberOfSamples") or 0),
                )
            elif other.kind == "Model":
                spec = other.obj.get("spec") or {}
                models[other.name] = ObservedModel(
                    name=other.name,
                    url=str(spec.get("url", "")),
                    format=str(spec.get("format", "")),
                    credential_name=spec.get("credentialName"),
                )
        secrets = {
            name: ObservedSecret(
                name=name,
                annotations=dict((body.get("metadata") or {}).get("annotations") or {}),
                data=decode_secret(body),
            )
            for (sns, name), body in self.store.objects("Secret").items()
            if sns == ns
        }
        return Observation(
            resource=resource,
            workers=workers,
            datasets=datasets,
            models=models,
            reports=dict(self.reports(ns, row.kind, row.name)),
            now=self.clock(),
            lc_server=self.config.lc_url,
            kb_server=self.config.kb_url or "http://127.0.0.1:9020",
            secrets=secrets,
        )

    # ---- applying --------------------------------------------------------------------------

    def _allocate(self, service: Mapping[str, Any]) -> dict[int, int]:
        used = {p for row in self.store.services() for p in row.port_map.values()}
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
            if not any(s.name == svc.name and s.namespace == sns for s in self.store.services(sns)):
                self.store.put_service(sns, svc.name, kind, name, body, self._allocate(body))
        for svc_name in plan.delete_services:
            self.store.remove_service(ns, svc_name)
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
            self.store.patch_status(kind, ns, name, plan.status_patch)
        for model, patch in plan.model_patches.items():
            self.store.patch_status("Model", ns, model, patch)
        self.store.set_annotations(kind, ns, name, plan.annotations)
        for ev in plan.events:
            self.store.add_event(kind, ns, name, ev.type, ev.reason, ev.message)
        if plan.finished != row.finished:
            self.store.set_finished(kind, ns, name, plan.finished)

    def _sync_datasets(self) -> None:
        if self.dataset_counts is None:
            return
        for row in self.store.list("Dataset"):
            count = self.dataset_counts(row.namespace, row.name)
            status = row.obj.get("status") or {}
            if count is not None and count != status.get("numberOfSamples"):
                self.store.patch_status(
                    "Dataset", row.namespace, row.name, {"numberOfSamples": count, "updateTime": now_iso()}
                )

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

    def step(self) -> None:
        """One pass: poll processes, then reconcile every unfinished resource once."""
        self.runner.sync()
        self._sync_datasets()
        for row in self.store.list():
            key = f"{row.kind}/{row.namespace}/{row.name}"
            if row.delete_requested:
                self._delete(row)
                continue
            controller = self.controllers.get(row.kind)
            if controller is None or row.finished:
                continue
            try:
                lc_files: dict[str, bool] = {}
                for hook in self.hooks:
                    lc_files.update(hook(self, row))
                obs = self.observe(row)
                if lc_files:
                    obs = obs.model_copy(update={"lc_files": lc_files})
                plan = controller.reconcile(obs)
                self.apply_plan(row, plan)
                self.errors.pop(key, None)
            except Exception as exc:  # one broken resource must not stop the others
                message = f"{type(exc).__name__}: {exc}"
                if self.errors.get(key) != message:
                    log.warning("reconcile %s failed: %s", key, message, exc_info=True)
                    self.store.add_event(
                        row.kind, row.namespace, row.name, "Warning", "ReconcileError", message
                    )
                self.errors[key] = message

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
    """The LC token key of this state directory (created once, kept for resumed runs)."""
    secret = store.get_meta("lc_secret")
    if secret is None:
        secret = pysecrets.token_hex(32)
        store.set_meta("lc_secret", secret)
    return secret


__all__ += ["new_secret"]
