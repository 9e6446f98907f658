"""The runtime-neutral core on the real API server: a Dataset's credentials reach the worker
pod the operator creates, and ``controllerState`` deletions reach etcd through the
operator's own apply code (:func:`sedna_operator.runtime.kubernetes.apply.apply_plan`)."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from test_operator_fixtures are parameters here)
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from sedna_operator.api import parse_resource
from sedna_operator.controllers.plan import Plan
from sedna_operator.runtime.kubernetes.apply import apply_plan
from sedna_operator.runtime.kubernetes.client import ApiError, KubeClient, load_credentials
from sedna_operator.runtime.kubernetes.engine import Key, _namespace_gone
from sedna_operator.runtime.kubernetes.operator import OperatorThread, build_engine
from tests.controllers.state_scenario import stale_succeeded_seen
from tests.controllers.test_incrementallearning import job as il_job
from tests.kube.test_operator_fixtures import (  # noqa: F401  (fixtures)
    apply,
    chart_identities,
    dataset,
    model,
    namespace,
    operator_config,
    pods,
    sample,
    wait_for,
)
from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver

CRED = "s3-cred"
S3_URL = "s3://bucket/edge1/train.txt"


def test_dataset_credentials_reach_the_trainer_pod(
    kube: ControlPlane, chart_identities: dict[str, Path], namespace: str
) -> None:
    """The FL trainer whose Dataset is on S3 downloads it with the Dataset's ``credentialName``
    (today's main never set ``ObservedDataset.credential_name``: the pod had no credentials)."""
    edge1 = dataset("edge1-surface-defect-detection-dataset", "edge1", url=S3_URL)
    edge1["spec"]["credentialName"] = CRED
    apply(kube, namespace, [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": CRED, "annotations": {"s3-endpoint": "minio:9000"}},
         "stringData": {"ACCESS_KEY_ID": "ak", "SECRET_ACCESS_KEY": "sk"}},
        model("surface-defect-detection-model"),
        edge1,
        dataset("edge2-surface-defect-detection-dataset", "edge2"),
    ])  # fmt: skip
    op = OperatorThread(operator_config(chart_identities["operator"])).start()
    try:
        apply(kube, namespace, sample("federatedlearningjob_v1alpha1.yaml"))
        trainer = wait_for(
            lambda: next((p for p in pods(kube, namespace) if S3_URL in json.dumps(p["spec"])), None),
            "the trainer of the S3 dataset",
        )
    finally:
        op.stop()
    assert op.error is None, op.error
    [init] = trainer["spec"]["initContainers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init.get("env", []) if "valueFrom" in e}
    assert refs["ACCESS_KEY_ID"] == {"name": CRED, "key": "ACCESS_KEY_ID"}
    assert refs["SECRET_ACCESS_KEY"] == {"name": CRED, "key": "SECRET_ACCESS_KEY"}


def test_controller_state_deletions_reach_etcd(kube: ControlPlane, namespace: str) -> None:
    """``succeededSeen`` removed by the cycle is removed from the stored status when the plan is
    applied by the operator's apply code (a merge patch of ``/status``)."""
    obj = il_job()
    obj["metadata"].pop("uid", None)
    obj["metadata"]["namespace"] = namespace
    kind, name = obj["kind"], obj["metadata"]["name"]
    apply(kube, namespace, obj)
    loop = asyncio.new_event_loop()
    client = KubeClient(load_credentials(str(kube.kubeconfig)))

    def current() -> dict[str, Any]:
        got: dict[str, Any] = kube.kubectl_json("get", kind, name, "-n", namespace)
        return got

    def write(_before: dict[str, Any], plan: Plan) -> dict[str, Any]:
        body = current()
        # workers are the table test's: only the status (and annotations, events) are applied
        status_only = plan.model_copy(update={"create_workers": [], "delete_workers": []})
        loop.run_until_complete(apply_plan(client, body, parse_resource(body), status_only))
        return current()

    try:
        start = current()
        start["status"] = start.get("status") or {}
        stale_succeeded_seen(write, start)
    finally:
        loop.run_until_complete(client.close())
        loop.close()


def test_a_write_into_a_deleted_namespace_ends_the_resource_not_an_error(
    kube: ControlPlane, namespace: str, chart_identities: dict[str, Path]
) -> None:
    """A reconcile that read its resource (from the watch index, a moment behind) just before its
    namespace was deleted gets a 404 for the namespace on its first write. That is the resource
    being gone, as with the 403 of a terminating namespace: no error, no retry."""
    gone = f"{namespace}-gone"
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
    config = operator_config(chart_identities["operator"])

    async def scenario() -> tuple[int, bool, bool, bool]:
        engine = build_engine(config)
        try:
            with pytest.raises(ApiError) as into_gone:
                await engine.client.request("POST", f"/api/v1/namespaces/{gone}/services", service)
            with pytest.raises(ApiError) as missing_child:
                await engine.client.request("GET", f"/api/v1/namespaces/{namespace}/services/nothing")
            real = into_gone.value

            async def write_into_gone(*_args: Any) -> Any:
                raise real

            engine._run = write_into_gone  # type: ignore[method-assign]
            ours = Key("FederatedLearningJob", gone, "job")
            other = Key("FederatedLearningJob", namespace, "job")
            engine._get = lambda key: asyncio.sleep(0, {"metadata": {"name": key.name}})  # type: ignore[method-assign]
            await engine._reconcile_once(ours)
            errors_after_gone, retry_scheduled = engine.errors, ours in engine._timers
            await engine._reconcile_once(other)  # the same 404 for another namespace is a real error
            return (
                errors_after_gone,
                retry_scheduled,
                engine.errors == 1 and other in engine._timers,
                _namespace_gone(missing_child.value, namespace),
            )
        finally:
            await engine.close()

    errors, retried, other_is_error, child_404_is_namespace = asyncio.run(scenario())
    assert (errors, retried) == (0, False)
    assert other_is_error
    assert not child_404_is_namespace
