"""Tier 3: restarts, the LC sink's spool, and the operator's health and metrics endpoints."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from test_operator_fixtures are parameters here)
import asyncio
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sedna_operator.controllers.plan import WorkerReport
from sedna_operator.lc.models import OwnerKey
from sedna_operator.runtime.kubernetes.client import Credentials, KubeClient, load_credentials
from sedna_operator.runtime.kubernetes.operator import OperatorThread
from sedna_operator.runtime.kubernetes.sink import KubernetesReportSink
from tests.kube.test_operator_fixtures import (  # noqa: F401  (fixtures)
    apply,
    chart_identities,
    dataset,
    events,
    finish_fl,
    model,
    namespace,
    operator_config,
    pods,
    sample,
    set_pod_phase,
    wait_for,
)
from tests.support.apiserver import ControlPlane, free_port

pytestmark = pytest.mark.apiserver

FL = "surface-defect-detection"


def _fl_inputs(kube: ControlPlane, ns: str) -> None:
    apply(kube, ns, [
        model("surface-defect-detection-model"),
        dataset("edge1-surface-defect-detection-dataset", "edge1"),
        dataset("edge2-surface-defect-detection-dataset", "edge2"),
    ])  # fmt: skip


def test_killed_operator_resumes_without_repeating_a_stage(
    kube: ControlPlane, chart_identities: dict[str, Path], namespace: str
) -> None:
    _fl_inputs(kube, namespace)
    first = OperatorThread(operator_config(chart_identities["operator"])).start()
    apply(kube, namespace, sample("federatedlearningjob_v1alpha1.yaml"))
    wait_for(lambda: pods(kube, namespace), "the first worker")
    first.kill()  # mid-cycle: some workers may not be created yet, status may be unwritten
    second = OperatorThread(operator_config(chart_identities["operator"])).start()
    try:
        found = wait_for(
            lambda: len(p := pods(kube, namespace)) == 3 and p, "all three workers after the restart"
        )
        names = sorted(p["metadata"]["name"] for p in found)
        time.sleep(1.0)
        assert sorted(p["metadata"]["name"] for p in pods(kube, namespace)) == names, (
            "no worker created twice"
        )
        job = finish_fl(kube, namespace, FL, found)
    finally:
        second.stop()
    assert second.error is None and second.engine.errors == 0
    # A third operator finds a finished job: nothing is created, no condition or event repeated.
    before_events = len(events(kube, namespace, FL))
    third = OperatorThread(operator_config(chart_identities["operator"])).start()
    try:
        wait_for(lambda: third.engine.reconciles > 0, "the resumed reconcile")
        time.sleep(1.0)
    finally:
        third.stop()
    after = kube.kubectl_json("get", "fl", FL, "-n", namespace)
    assert after["status"]["conditions"] == job["status"]["conditions"]
    assert (
        sorted(p["metadata"]["name"] for p in kube.kubectl_json("get", "pods", "-n", namespace)["items"])
        == names
    )
    assert len(events(kube, namespace, FL)) == before_events


def _report(worker: str, sequence: int, round_: int) -> WorkerReport:
    return WorkerReport(
        worker=worker, kind="train", status="running", owner_info={"currentRound": round_},
        received_at=datetime.now(UTC), sequence=sequence,
    )  # fmt: skip


def test_lc_sink_spools_while_the_api_server_is_unreachable(
    kube: ControlPlane, chart_identities: dict[str, Path], namespace: str, tmp_path: Path
) -> None:
    _fl_inputs(kube, namespace)
    apply(kube, namespace, sample("federatedlearningjob_v1alpha1.yaml"))
    owner = OwnerKey(namespace=namespace, kind="FederatedLearningJob", name=FL)
    down = KubeClient(Credentials(server=f"https://127.0.0.1:{free_port()}", insecure=True), timeout=2)
    sink = KubernetesReportSink(down, tmp_path, retry_seconds=0.2)

    async def scenario() -> int:
        await sink.record(owner, _report("trainer-a", 1, 1))
        await sink.record(owner, _report("trainer-a", 2, 2))
        assert sink.pending == 2
        latest = await sink.latest(owner, "trainer-a")
        assert latest is not None and latest.sequence == 2  # the spool is the newest truth
        sink.client = KubeClient(load_credentials(str(chart_identities["lc"])))  # the server is back
        left = await sink.flush()
        await sink.close()
        return left

    assert asyncio.run(scenario()) == 0
    job = kube.kubectl_json("get", "fl", FL, "-n", namespace)
    report = job["status"]["reports"]["trainer-a"]
    assert report["sequence"] == 2 and report["ownerInfo"] == {"currentRound": 2}, "replayed in order"
    assert not (tmp_path / "lc-status-spool.jsonl").read_text()


def test_health_and_metrics_endpoints(
    kube: ControlPlane, chart_identities: dict[str, Path], namespace: str
) -> None:
    health, metrics = free_port(), free_port()
    op = OperatorThread(
        operator_config(chart_identities["operator"], health_port=health, metrics_port=metrics)
    ).start()
    try:
        apply(kube, namespace, model("m"))
        _fl_inputs(kube, namespace)
        apply(kube, namespace, sample("federatedlearningjob_v1alpha1.yaml"))
        wait_for(lambda: len(pods(kube, namespace)) == 3, "workers")
        wait_for(lambda: op.engine.reconciles > 0, "a reconcile")
        with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        op.stop()
    assert 'sedna_operator_reconciles_total{kind="FederatedLearningJob",result="ok"}' in text
    assert "sedna_operator_reconcile_seconds_bucket" in text
    assert 'sedna_operator_workers{kind="FederatedLearningJob",phase="Pending"}' in text
