"""JointInferenceService where the runtime has Deployments (Kubernetes): each worker is a
Deployment named as Sedna names it, its ``hpa`` an autoscaling/v2 HPA; plan contents field by
field, edits, removal, and the status read from the Deployments and their pods."""

from __future__ import annotations

import copy
from typing import Any

from sedna_operator.controllers import jointinference as ji
from sedna_operator.controllers.plan import ObservedDeployment, ObservedWorker, Plan, WorkerPlan
from sedna_operator.controllers.workers import deployment_manifest

from .helpers import UID, apply, env_of, observe, report, sample
from .test_jointinference import MODELS

SAMPLE = "jointinferenceservice_v1alpha1.yaml"
NAME = "helmet-detection-inference-example"
LABEL = "jointinferenceservice.sedna.io"

HPA = {
    "minReplicas": 2,
    "maxReplicas": 5,
    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
}


def with_hpa(obj: dict[str, Any], role: str = "cloudWorker", hpa: dict[str, Any] | None = None) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["spec"][role]["hpa"] = copy.deepcopy(hpa or HPA)
    return out


def reconcile(obj: dict[str, Any], **kw: Any) -> Plan:
    kw.setdefault("deployments", {})
    return ji.reconcile(observe(obj, models=MODELS, **kw))


def deployments(plan: Plan) -> dict[str, WorkerPlan]:
    return {w.role: w for w in plan.create_workers if w.deployment is not None}


def observed(worker: WorkerPlan, *, replicas: int | None = None, available: int = 1) -> ObservedDeployment:
    manifest = deployment_manifest(worker)
    return ObservedDeployment(
        name=worker.name, role=worker.role, template_hash=manifest["metadata"]["annotations"]["sedna.io/template-hash"],
        labels=manifest["metadata"]["labels"], replicas=manifest["spec"]["replicas"] if replicas is None else replicas,
        available=available,
    )


def pod_of(worker: WorkerPlan, suffix: str, phase: str = "Running", **kw: Any) -> ObservedWorker:
    """A pod the Deployment made (named by its ReplicaSet)."""
    meta = worker.pod["metadata"]
    return ObservedWorker(
        name=f"{worker.name}-5d8f9c7b6-{suffix}", role=worker.role, phase=phase, labels=meta["labels"],
        annotations=meta["annotations"], workload=worker.name, **kw,
    )


def running_state(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, WorkerPlan], dict[str, Any]]:
    """The service after its first pass, its Deployments, and an observation with both up."""
    plan = reconcile(obj)
    deps = deployments(plan)
    kw = {
        "deployments": {w.name: observed(w) for w in deps.values()},
        "workers": [pod_of(deps["cloud"], "abcde", ready=True), pod_of(deps["edge"], "fghij", ready=True)],
    }
    return apply(obj, plan), deps, kw


def test_workers_are_deployments_named_and_labelled_as_sednas() -> None:
    plan = reconcile(sample(SAMPLE))
    deps = deployments(plan)
    assert set(deps) == {"cloud", "edge"} and len(plan.create_workers) == 2
    for role, worker in deps.items():
        manifest = deployment_manifest(worker)
        meta, spec = manifest["metadata"], manifest["spec"]
        assert (manifest["apiVersion"], manifest["kind"]) == ("apps/v1", "Deployment")
        assert meta["name"] == worker.name == f"{NAME}-deployment-{role}"
        labels = {f"{LABEL}/name": NAME, f"{LABEL}/uid": UID, f"{LABEL}/worker-type": role}
        assert meta["labels"] == {**labels, "app.sedna.io": f"{NAME}-{role}-svc"}
        assert meta["ownerReferences"][0]["uid"] == UID and meta["ownerReferences"][0]["controller"] is True
        assert meta["annotations"]["sedna.io/template-hash"] == worker.template_hash
        assert spec["replicas"] == 1 and spec["selector"] == {"matchLabels": labels}
        template = spec["template"]
        # The pods keep every label the rest of the code selects on, and no name of their own.
        assert template["metadata"]["labels"] == {**labels, "sedna.io/worker-key": role}
        assert template["metadata"]["annotations"]["sedna.io/template-hash"] == worker.template_hash
        assert "name" not in template["metadata"] and "ownerReferences" not in template["metadata"]
        env = env_of(template)
        assert env["WORKER_NAME"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}
        assert env["SERVICE_NAME"] == NAME and env["LC_SERVER"] == "http://$(NODE_IP):9100"
        assert "restartPolicy" not in template["spec"]
    assert env_of(deployment_manifest(deps["edge"]).get("spec", {}).get("template"))["BIG_MODEL_IP"] == f"{NAME}-cloud.default"
    # The big-model Service selects the cloud Deployment's pods.
    (service,) = plan.services
    cloud_labels = deployment_manifest(deps["cloud"])["spec"]["template"]["metadata"]["labels"]
    assert service.service["spec"]["selector"].items() <= cloud_labels.items()
    assert not plan.autoscalers and not plan.delete_autoscalers


def test_no_deployments_where_the_runtime_has_none() -> None:
    plan = ji.reconcile(observe(with_hpa(sample(SAMPLE)), models=MODELS))  # deployments=None: local
    assert [w.deployment for w in plan.create_workers] == [None, None] and not plan.autoscalers


def test_hpa_fields_pass_through_and_replicas_start_at_min() -> None:
    plan = reconcile(with_hpa(sample(SAMPLE)))
    (autoscaler,) = plan.autoscalers
    hpa = autoscaler.hpa
    assert (hpa["apiVersion"], hpa["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    assert autoscaler.name == hpa["metadata"]["name"] == f"hpa-{NAME}-deployment-cloud"
    assert hpa["metadata"]["ownerReferences"][0]["uid"] == UID
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{NAME}-deployment-cloud"}, **HPA
    }
    deps = deployments(plan)
    assert deployment_manifest(deps["cloud"])["spec"]["replicas"] == 2
    assert deployment_manifest(deps["edge"])["spec"]["replicas"] == 1  # no hpa on the edge
    assert any(e.reason == "AutoscalerApplied" for e in plan.events)


def test_steady_state_writes_nothing_and_counts_available_replicas() -> None:
    obj, deps, kw = running_state(with_hpa(sample(SAMPLE)))
    kw["deployments"][deps["cloud"].name] = observed(deps["cloud"], replicas=4, available=3)  # the HPA scaled up
    hpa_hash = reconcile(with_hpa(sample(SAMPLE))).autoscalers[0].hpa["metadata"]["annotations"]["sedna.io/template-hash"]
    plan = reconcile(obj, autoscalers={f"hpa-{NAME}-deployment-cloud": hpa_hash}, **kw)
    assert not plan.create_workers and not plan.delete_workers and not plan.autoscalers  # no fight with the HPA
    assert plan.status_patch["active"] == 4 and plan.status_patch.get("failed", 0) == 0
    conditions = plan.status_patch["conditions"]
    assert conditions[-1]["type"] == "Running" and conditions[0]["type"] == "Ready" and conditions[0]["status"] == "True"


def test_template_edit_rolls_only_that_deployment_and_keeps_hpa_replicas() -> None:
    obj, deps, kw = running_state(with_hpa(sample(SAMPLE)))
    kw["deployments"][deps["cloud"].name] = observed(deps["cloud"], replicas=4)
    obj["spec"]["cloudWorker"]["template"]["spec"]["containers"][0]["image"] = "big:v2"
    obj["metadata"]["generation"] = 2
    plan = reconcile(obj, **kw)
    (rolled,) = plan.create_workers
    assert rolled.name == f"{NAME}-deployment-cloud" and rolled.template_hash != deps["cloud"].template_hash
    assert rolled.deployment is not None and rolled.deployment.replicas_owned_by_hpa  # the live count stays
    assert deployment_manifest(rolled)["spec"]["template"]["spec"]["containers"][0]["image"] == "big:v2"
    assert not plan.delete_workers  # the Deployment replaces its pods itself
    assert any(e.reason == "WorkerUpdated" for e in plan.events)


def test_hpa_edit_replaces_it_and_removal_deletes_it_and_resets_replicas() -> None:
    obj, deps, kw = running_state(with_hpa(sample(SAMPLE)))
    old = reconcile(with_hpa(sample(SAMPLE))).autoscalers[0].hpa["metadata"]["annotations"]["sedna.io/template-hash"]
    name = f"hpa-{NAME}-deployment-cloud"
    kw["deployments"][deps["cloud"].name] = observed(deps["cloud"], replicas=3)
    edited = with_hpa(obj, hpa={**HPA, "maxReplicas": 7})
    plan = reconcile(edited, autoscalers={name: old}, **kw)
    assert [a.hpa["spec"]["maxReplicas"] for a in plan.autoscalers] == [7] and not plan.create_workers
    removed = copy.deepcopy(obj)
    del removed["spec"]["cloudWorker"]["hpa"]
    plan = reconcile(removed, autoscalers={name: old}, **kw)
    assert plan.delete_autoscalers == [name] and not plan.autoscalers
    (reset,) = plan.create_workers  # 3 replicas and no HPA: back to Sedna's single replica
    assert reset.deployment is not None and not reset.deployment.replicas_owned_by_hpa
    assert deployment_manifest(reset)["spec"]["replicas"] == 1


def test_replicas_below_min_are_raised() -> None:
    obj, deps, kw = running_state(sample(SAMPLE))  # made without hpa: 1 replica
    plan = reconcile(with_hpa(obj), **kw)
    (raised,) = plan.create_workers
    assert deployment_manifest(raised)["spec"]["replicas"] == 2 and len(plan.autoscalers) == 1


def test_pods_of_the_deployments_are_the_workers() -> None:
    obj, deps, kw = running_state(sample(SAMPLE))
    edge_pod = kw["workers"][1]
    kw["workers"][0] = pod_of(deps["cloud"], "abcde", ready=False)
    plan = reconcile(obj, **kw)
    ready = plan.status_patch["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "CloudWorkerNotReady")
    # The edge pod's report becomes the metrics; a failed pod is counted and cleared away.
    rep = report(edge_pod.name, "inference", "running", owner_info={"inferenceNumber": 7})
    kw["workers"].append(pod_of(deps["edge"], "zzzzz", phase="Failed"))
    plan = reconcile(obj, reports={edge_pod.name: rep}, **kw)
    assert plan.status_patch["metrics"] == [{"key": "inferenceNumber", "value": "7"}]
    assert plan.status_patch["failed"] == 1 and plan.delete_workers == [f"{NAME}-deployment-edge-5d8f9c7b6-zzzzz"]


def test_bare_pods_of_an_older_runtime_are_removed() -> None:
    pod_plan = ji.reconcile(observe(sample(SAMPLE), models=MODELS))
    bare = [ObservedWorker(name=w.name, role=w.role, phase="Running", labels=w.pod["metadata"]["labels"])
            for w in pod_plan.create_workers]  # fmt: skip
    plan = reconcile(sample(SAMPLE), workers=bare)
    assert sorted(plan.delete_workers) == sorted(w.name for w in bare) and len(deployments(plan)) == 2


def test_a_worker_meant_to_finish_stays_a_pod() -> None:
    obj = with_hpa(sample(SAMPLE), "edgeWorker")
    obj["spec"]["edgeWorker"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    plan = reconcile(obj)
    edge = next(w for w in plan.create_workers if w.role == "edge")
    assert edge.deployment is None and edge.pod["spec"]["restartPolicy"] == "OnFailure"
    assert set(deployments(plan)) == {"cloud"} and not plan.autoscalers
    assert any(e.reason == "AutoscalerIgnored" and e.type == "Warning" for e in plan.events)


def test_cleanup_deletes_deployments_and_autoscalers() -> None:
    obj, deps, kw = running_state(with_hpa(sample(SAMPLE)))
    plan = ji.cleanup(observe(obj, models=MODELS, autoscalers={f"hpa-{NAME}-deployment-cloud": "x"}, **kw))
    assert sorted(plan.delete_deployments) == sorted(w.name for w in deps.values())
    assert plan.delete_autoscalers == [f"hpa-{NAME}-deployment-cloud"]


def test_waiting_for_pods_is_a_timed_look_only_where_pods_are_not_watched() -> None:
    """The operator watches the service's pods and Deployments, so the next change brings the
    reconcile; a 10 s requeue per service would only load an API server that is busy making
    the pods (100 services: about 4,000 extra GETs in the latency bench)."""
    obj = sample(SAMPLE)
    first = reconcile(obj)
    state = apply(obj, first)
    deps = deployments(first)
    pending = {
        "deployments": {w.name: observed(w, available=0) for w in deps.values()},
        "workers": [pod_of(deps["cloud"], "abcde", phase="Pending"), pod_of(deps["edge"], "fghij", phase="Pending")],
    }
    assert reconcile(state, **pending).requeue_after == 10.0
    assert reconcile(state, children_watched=True, **pending).requeue_after is None
