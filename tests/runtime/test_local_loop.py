"""The generic loop (observe -> reconcile -> apply) with a tiny fake reconciler, no LC."""

from __future__ import annotations

import time
from pathlib import Path

from sedna_operator.controllers.plan import EventPlan, Observation, Plan, ServicePlan, WorkerPlan
from sedna_operator.runtime.local.loop import KindController, LocalRuntime, RuntimeConfig
from sedna_operator.runtime.local.store import Store

JOB = {
    "apiVersion": "sedna.io/v1alpha1",
    "kind": "FederatedLearningJob",
    "metadata": {"name": "fake", "namespace": "default"},
    "spec": {
        "aggregationWorker": {
            "model": {"name": "m"},
            "template": {"spec": {"containers": [{"name": "a", "image": "i"}]}},
        },
        "trainingWorkers": [
            {"dataset": {"name": "d"}, "template": {"spec": {"containers": [{"name": "t", "image": "i"}]}}}
        ],
    },
}


def fake_reconcile(obs: Observation) -> Plan:
    """One server worker behind a service and one client that prints what it got, then finish."""
    plan = Plan()
    by_role = {w.role: w for w in obs.workers}
    labels = {"fake.sedna.io/name": "fake"}
    plan.services.append(
        ServicePlan(
            name="fake-srv",
            service={
                "metadata": {"name": "fake-srv", "namespace": "default"},
                "spec": {"selector": labels, "ports": [{"port": 7363, "targetPort": 7363}]},
            },
        )
    )
    if "client" not in by_role:
        pod = {
            "metadata": {"name": "fake-client", "namespace": "default", "labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "c",
                        "image": "sedna-example/fake",
                        "command": [
                            "python",
                            "-c",
                            "import os; print(os.environ['SRV_IP'], os.environ['SRV_PORT'], os.environ['LC_SERVER'])",
                        ],
                        "env": [
                            {"name": "SRV_IP", "value": "fake-srv.default"},
                            {"name": "SRV_PORT", "value": "7363"},
                        ],
                    }
                ],
            },
        }
        plan.create_workers.append(WorkerPlan(name="fake-client", role="client", pod=pod, template_hash="h"))
        plan.status_patch = {"phase": "Running"}
        plan.events.append(EventPlan(reason="Started", message="client created"))
    elif by_role["client"].phase == "Succeeded":
        plan.status_patch = {"phase": "Succeeded", "succeeded": 1}
        plan.finished = True
    return plan


def test_fake_reconciler_runs_to_the_end(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    manifest = tmp_path / "job.yaml"
    manifest.write_text("# placeholder: the image directory is this file's directory\n")
    store.apply(JOB, source=str(manifest))
    runtime = LocalRuntime(
        store,
        RuntimeConfig(lc_url="http://127.0.0.1:1", always_remap_ports=True),
        {"FederatedLearningJob": KindController(fake_reconcile)},
    )
    deadline = time.monotonic() + 20
    while not runtime.done():
        assert time.monotonic() < deadline, store.workers()
        runtime.step()
        time.sleep(0.05)
    row = store.get("FederatedLearningJob", "default", "fake")
    assert row is not None and row.finished and row.obj["status"] == {"phase": "Succeeded", "succeeded": 1}
    [svc] = store.services()
    port = svc.port_map[7363]
    assert port != 7363  # always_remap_ports
    log = (store.logs_dir / "fake-client.log").read_text()
    assert f"127.0.0.1 {port} http://127.0.0.1:1" in log
    assert [e.reason for e in store.events(name="fake")] == ["Started"]
    # applying the same plan again creates nothing twice
    runtime.apply_plan(row, fake_reconcile(runtime.observe(row)).model_copy(update={"finished": True}))
    assert len(store.workers()) == 1
