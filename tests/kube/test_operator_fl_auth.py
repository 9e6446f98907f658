"""The kubernetes runtime gives a FederatedLearningJob's workers their aggregation credentials
(issue 12 item 5): the same helper as the local runtime, at the report-token spot."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from test_operator_fixtures are parameters here)
from collections.abc import Iterator
from pathlib import Path

import pytest

from sedna_operator.lc.auth import aggregation_env, aggregation_token
from sedna_operator.runtime.kubernetes.operator import OperatorThread
from tests.kube.test_operator_fixtures import (  # noqa: F401  (fixtures)
    apply,
    chart_identities,
    dataset,
    env_of,
    model,
    namespace,
    operator_config,
    pods,
    sample,
    wait_for,
)
from tests.support.apiserver import ControlPlane

pytestmark = pytest.mark.apiserver

SECRET = "test-lc-secret-fl"
FL = "surface-defect-detection"


@pytest.fixture(scope="module")
def op(chart_identities: dict[str, Path]) -> Iterator[OperatorThread]:
    thread = OperatorThread(operator_config(chart_identities["operator"], lc_secret=SECRET)).start()
    try:
        yield thread
    finally:
        thread.stop()
    assert thread.error is None, thread.error


def test_fl_workers_get_the_aggregation_key_and_slot_tokens(kube: ControlPlane, op: OperatorThread, namespace: str) -> None:
    apply(kube, namespace, [
        model("surface-defect-detection-model"),
        dataset("edge1-surface-defect-detection-dataset", "edge1"),
        dataset("edge2-surface-defect-detection-dataset", "edge2"),
    ])  # fmt: skip
    apply(kube, namespace, sample("federatedlearningjob_v1alpha1.yaml"))
    found = wait_for(lambda: len(p := pods(kube, namespace)) == 3 and p, "aggregation + 2 training workers")
    by_slot = {pod["metadata"]["labels"]["sedna.io/worker-key"]: env_of(pod) for pod in found}
    assert sorted(by_slot) == ["aggregation", "train-0", "train-1"]
    key = by_slot["aggregation"]["SEDNA_AGG_KEY"]
    assert "SEDNA_AGG_TOKEN" not in by_slot["aggregation"]
    assert aggregation_env(SECRET, namespace, "FederatedLearningJob", FL, "aggregation", "aggregation") == {
        "SEDNA_AGG_KEY": key
    }
    for slot in ("train-0", "train-1"):
        env = by_slot[slot]
        assert env["SEDNA_AGG_CLIENT_ID"] == slot and "SEDNA_AGG_KEY" not in env
        assert env["SEDNA_AGG_TOKEN"] == aggregation_token(key, slot)
