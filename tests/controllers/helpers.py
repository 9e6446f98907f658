"""Builders of observations for the reconciler table tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from sedna_operator.api import parse_resource
from sedna_operator.controllers.plan import (
    Observation,
    ObservedDataset,
    ObservedModel,
    ObservedWorker,
    Plan,
    WorkerReport,
)
from sedna_operator.core.merge import merge_patch

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "sedna-crd-samples"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UID = "0f1e2d3c-aaaa-bbbb-cccc-000000000001"


def sample(filename: str, **status: Any) -> dict[str, Any]:
    """A Sedna sample as a dict, with uid/namespace/generation set and an optional status."""
    obj = yaml.safe_load((SAMPLES / filename).read_text())
    obj["metadata"].setdefault("namespace", "default")
    obj["metadata"]["uid"] = UID
    obj["metadata"]["generation"] = 1
    if status:
        obj["status"] = status
    return obj


def observe(obj: dict[str, Any], *, now: datetime = NOW, workers: list[ObservedWorker] | None = None,
            reports: dict[str, WorkerReport] | None = None, datasets: dict[str, ObservedDataset] | None = None,
            models: dict[str, ObservedModel] | None = None, **kw: Any) -> Observation:
    return Observation(
        resource=parse_resource(copy.deepcopy(obj)), now=now, workers=workers or [], reports=reports or {},
        datasets=datasets if datasets is not None else {}, models=models if models is not None else {}, **kw,
    )


def model(name: str, url: str, fmt: str = "pb", cred: str | None = None) -> ObservedModel:
    return ObservedModel(name=name, url=url, format=fmt, credential_name=cred)


def dataset(name: str, url: str, n: int = 0, node: str = "edge-node", cred: str | None = None) -> ObservedDataset:
    return ObservedDataset(name=name, url=url, format="txt", node_name=node, number_of_samples=n, credential_name=cred)


def worker_from(plan_worker: Any, phase: str = "Running", **kw: Any) -> ObservedWorker:
    """The observed state of a worker the plan created."""
    pod = plan_worker.pod
    return ObservedWorker(
        name=plan_worker.name, role=plan_worker.role, phase=phase, labels=pod["metadata"]["labels"],
        annotations=pod["metadata"]["annotations"], template_hash=plan_worker.template_hash,
        node=pod["spec"].get("nodeName"), **kw,
    )


def report(worker: str, kind: str, status: str, *, results: list[dict[str, Any]] | None = None,
           owner_info: dict[str, Any] | None = None, at: datetime = NOW, seq: int = 0) -> WorkerReport:
    return WorkerReport(worker=worker, kind=kind, status=status, results=results or [], owner_info=owner_info or {},
                        received_at=at, sequence=seq)


def apply(obj: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The resource after the runtime applied the plan's status merge patch and annotations,
    with the merge both runtimes use (:func:`sedna_operator.core.merge.merge_patch`)."""
    out = copy.deepcopy(obj)
    out["status"] = merge_patch(out.get("status") or {}, plan.status_patch)
    out["metadata"]["annotations"] = merge_patch(out["metadata"].get("annotations") or {}, plan.annotations)
    return out


def env_of(pod: dict[str, Any], container: int = 0) -> dict[str, Any]:
    """name -> value (or valueFrom) of a container's env (last duplicate wins, like Kubernetes)."""
    out: dict[str, Any] = {}
    for e in pod["spec"]["containers"][container].get("env", []):
        out[e["name"]] = e.get("value", e.get("valueFrom"))
    return out


def last_condition(obj: dict[str, Any]) -> tuple[str | None, str | None]:
    conds = (obj.get("status") or {}).get("conditions", [])
    if not conds:
        return None, None
    return conds[-1]["type"], conds[-1].get("stage")


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)
