"""`sedna run` of the FL example with aggregation credentials (issue 12 item 5).

The local runtime injects the job's aggregation key into the aggregator and a token bound to
its slot into each trainer; the unchanged example scripts authenticate through the SDK. The
kubernetes runtime's injection gives the same pods the same values.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sedna_operator.controllers.plan import Plan, WorkerPlan
from sedna_operator.lc.auth import aggregation_env, aggregation_token
from sedna_operator.runtime.kubernetes.engine import _inject_aggregation_env
from sedna_operator.runtime.local.loop import LocalRuntime, RuntimeConfig
from sedna_operator.runtime.local.store import Store

from .examples_support import copy_example, run_example, worker_logs

pytestmark = pytest.mark.slow

JOB = "digits-fedavg"


def test_federated_learning_example_authenticates_its_trainers(tmp_path: Path) -> None:
    example = copy_example("federated_learning", tmp_path)
    state = tmp_path / "state"
    done, _ = run_example(example, state)
    assert done.returncode == 0, done.stdout + done.stderr + worker_logs(state)
    store = Store(state)
    row = store.get("FederatedLearningJob", "default", JOB)
    assert row is not None and row.obj["status"]["phase"] == "Succeeded"
    workers = store.workers("FederatedLearningJob", "default", JOB)
    agg_log = next(Path(w.log_path) for w in workers if w.role == "aggregation").read_text()
    # the aggregator had a key (no open-server warning), and every round was made of the three
    # trainers under their slot ids, which only their tokens could subscribe as
    assert "no aggregation key" not in agg_log, agg_log[-3000:]
    assert "subscribe_rejected" not in agg_log and "connection refused" not in agg_log
    assert agg_log.count("(train-0, train-1, train-2)") == 3, agg_log[-3000:]

    # both runtimes inject the same values into the same pods
    secret = "a-test-lc-secret"
    local = LocalRuntime(store, RuntimeConfig(lc_url="http://127.0.0.1:1", lc_secret=secret), {})
    plan = Plan(
        create_workers=[
            WorkerPlan(name=w.name, role=w.role, pod=copy.deepcopy(w.pod_obj), template_hash="h") for w in workers
        ]
    )
    _inject_aggregation_env(plan, secret, "default", "FederatedLearningJob", JOB)
    seen: dict[str, dict[str, str]] = {}
    for w, wp in zip(workers, plan.create_workers, strict=True):
        kube_env = {e["name"]: e.get("value") for e in wp.pod["spec"]["containers"][0]["env"]}
        local_env = local.build_processes(w).main.env
        slot = wp.pod["metadata"]["labels"]["sedna.io/worker-key"]
        want = aggregation_env(secret, "default", "FederatedLearningJob", JOB, wp.role, slot)
        assert want and {k: kube_env[k] for k in want} == want == {k: local_env[k] for k in want}
        seen[slot] = want
    key = seen["aggregation"]["SEDNA_AGG_KEY"]
    assert sorted(seen) == ["aggregation", "train-0", "train-1", "train-2"]
    assert all(seen[f"train-{i}"]["SEDNA_AGG_TOKEN"] == aggregation_token(key, f"train-{i}") for i in range(3))
    assert "SEDNA_AGG_TOKEN" not in seen["aggregation"] and "SEDNA_AGG_KEY" not in seen["train-0"]
