"""The local runtime on the runtime-neutral core: the Observation has every field (a Dataset's
credentials included), every registered kind runs (Model too), and ``controllerState``
deletions reach the SQLite store through the runtime's own apply code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from sedna_operator.controllers.plan import DEFAULT_STORAGE_INITIALIZER_IMAGE, Observation, Plan, WorkerReport
from sedna_operator.core.reports import report_to_wire
from sedna_operator.runtime.local.images import ImageMap
from sedna_operator.runtime.local.loop import KindController, LocalRuntime, RuntimeConfig, load_reconcilers
from sedna_operator.runtime.local.store import Store, WorkerRow
from tests.controllers.helpers import SAMPLES
from tests.controllers.state_scenario import stale_succeeded_seen
from tests.controllers.test_incrementallearning import job as il_job

NS = "default"
FL = "surface-defect-detection"
CRED = "s3-cred"
TRAIN_IMAGE = "kubeedge/sedna-example-federated-learning-surface-defect-detection-train:v0.1.0"


def _fl_objects() -> list[dict[str, Any]]:
    fl = yaml.safe_load((SAMPLES / "federatedlearningjob_v1alpha1.yaml").read_text())
    fl["metadata"]["namespace"] = NS

    def obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "sedna.io/v1alpha1", "kind": kind, "metadata": {"name": name, "namespace": NS}, "spec": spec}

    return [
        obj("Model", "surface-defect-detection-model", {"url": "/models/m.pb", "format": "pb"}),
        obj("Dataset", "edge1-surface-defect-detection-dataset",
            {"url": "s3://bucket/edge1/train.txt", "format": "txt", "nodeName": "edge1", "credentialName": CRED}),
        obj("Dataset", "edge2-surface-defect-detection-dataset",
            {"url": "/data/edge2/train.txt", "format": "txt", "nodeName": "edge2"}),
        fl,
    ]  # fmt: skip


def _runtime(tmp_path: Path) -> tuple[Store, LocalRuntime]:
    store = Store(tmp_path / "state")
    images = ImageMap()
    (tmp_path / "initializer").mkdir()
    images.add_option(f"{DEFAULT_STORAGE_INITIALIZER_IMAGE}={tmp_path / 'initializer'}")
    images.add_option(f"{TRAIN_IMAGE}={tmp_path / 'initializer'}")
    config = RuntimeConfig(lc_url="http://127.0.0.1:9", image_map=images)
    return store, LocalRuntime(store, config, load_reconcilers())


def test_dataset_credentials_reach_the_trainer_process(tmp_path: Path) -> None:
    """A Dataset's ``credentialName`` reaches the FL trainer that downloads it: the storage
    initializer of its pod reads the Secret, and its local process gets the values.
    (Today's main never set ``ObservedDataset.credential_name``: no credentials at all.)"""
    store, runtime = _runtime(tmp_path)
    for o in _fl_objects():
        store.apply(o)
    store.put_object({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": CRED, "namespace": NS},
        "stringData": {"ACCESS_KEY_ID": "ak", "SECRET_ACCESS_KEY": "sk"},
    })  # fmt: skip
    row = store.get("FederatedLearningJob", NS, FL)
    assert row is not None
    obs = runtime.observe(row)
    assert obs.datasets["edge1-surface-defect-detection-dataset"].credential_name == CRED
    assert list(obs.secrets) == [CRED]
    plan = runtime.controllers["FederatedLearningJob"].reconcile(obs)
    [trainer] = [w for w in plan.create_workers if "s3://bucket/edge1/train.txt" in json.dumps(w.pod)]
    [init] = trainer.pod["spec"]["initContainers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"] if "valueFrom" in e}
    assert refs["ACCESS_KEY_ID"] == {"name": CRED, "key": "ACCESS_KEY_ID"}
    assert refs["SECRET_ACCESS_KEY"] == {"name": CRED, "key": "SECRET_ACCESS_KEY"}
    pod = json.loads(json.dumps(trainer.pod))
    pod["spec"]["containers"][0]["command"] = ["true"]  # the sample's image has no local entrypoint
    wrow = WorkerRow(
        name=trainer.name, owner_kind="FederatedLearningJob", owner_namespace=NS, owner_name=FL,
        role=trainer.role, pod=json.dumps(pod), template_hash=trainer.template_hash, phase="Pending",
    )  # fmt: skip
    [initializer] = runtime.build_processes(wrow).init
    assert initializer.env["ACCESS_KEY_ID"] == "ak" and initializer.env["SECRET_ACCESS_KEY"] == "sk"


def test_every_registered_kind_runs_locally_model_included(tmp_path: Path) -> None:
    """The Model reconciler stamps ``status.updateTime`` once (today's main ran no Model
    reconciler locally: the kind was missing from the local registry)."""
    store, runtime = _runtime(tmp_path)
    assert set(runtime.controllers) == {
        "Dataset", "Model", "JointInferenceService", "FederatedLearningJob",
        "IncrementalLearningJob", "LifelongLearningJob",
    }  # fmt: skip
    store.apply(_fl_objects()[0])
    runtime.step()
    row = store.get("Model", NS, "surface-defect-detection-model")
    assert row is not None and row.obj["status"]["updateTime"]
    stamped = row.obj["status"]["updateTime"]
    runtime.step()
    row = store.get("Model", NS, "surface-defect-detection-model")
    assert row is not None and row.obj["status"]["updateTime"] == stamped


def test_controller_state_deletions_reach_the_store(tmp_path: Path) -> None:
    """``succeededSeen`` removed by the cycle is removed from the stored status (through
    :meth:`LocalRuntime.apply_plan`, the local runtime's own status write)."""
    store, runtime = _runtime(tmp_path)
    obj = il_job()
    obj["metadata"].pop("uid", None)
    store.apply(obj)
    kind, name = obj["kind"], obj["metadata"]["name"]

    def write(_before: dict[str, Any], plan: Plan) -> dict[str, Any]:
        row = store.get(kind, NS, name)
        assert row is not None
        # workers are the table test's: only the status (and annotations, events) are applied
        runtime.apply_plan(row, plan.model_copy(update={"create_workers": [], "delete_workers": []}))
        after = store.get(kind, NS, name)
        assert after is not None
        return after.obj

    stale_succeeded_seen(write, obj)


def test_reports_live_in_the_resource_status(tmp_path: Path) -> None:
    """The LC's latest report of each worker lands in ``status.reports.<worker>`` (the cluster's
    wire form) and the reconciler reads it from there; an unchanged report is not rewritten.
    (Today's main handed the LC's reports to the reconciler without ever storing them in status.)"""
    store = Store(tmp_path / "state")
    report = WorkerReport(worker="w-1", kind="train", status="completed", results=[{"url": "/m"}],
                          received_at=datetime(2024, 5, 1, 12, tzinfo=UTC), sequence=3)  # fmt: skip
    seen: list[dict[str, WorkerReport]] = []

    def reconcile(obs: Observation) -> Plan:
        seen.append(dict(obs.reports))
        return Plan()

    runtime = LocalRuntime(
        store, RuntimeConfig(lc_url="http://127.0.0.1:9"), {"FederatedLearningJob": KindController(reconcile)},
        reports=lambda ns, kind, name: {"w-1": report} if (kind, name) == ("FederatedLearningJob", FL) else {},
    )  # fmt: skip
    store.apply(_fl_objects()[-1])
    runtime.step()
    row = store.get("FederatedLearningJob", NS, FL)
    assert row is not None
    assert row.obj["status"]["reports"] == {"w-1": report_to_wire(report)}
    assert seen == [{"w-1": report}]
    version = row.obj["metadata"]["resourceVersion"]
    runtime.step()
    again = store.get("FederatedLearningJob", NS, FL)
    assert again is not None and again.obj["metadata"]["resourceVersion"] == version
    assert seen[-1] == {"w-1": report}
