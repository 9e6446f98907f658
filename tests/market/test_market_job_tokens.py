"""Lifelong-learning jobs write to the market as themselves (issue 12 items 6 and 8): the
operator and the market share a key, both runtimes give each LL job's workers
``MARKET_API_TOKEN`` derived from it, and Sedna's ``KBClient`` (which reads that variable) then
uploads as the user ``job:<namespace>/<name>``, which cannot overwrite another job's files."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sedna.common.jobtoken import market_job_token, verify_market_job_token
from sedna.service.client import KBClient
from sedna_operator.controllers.plan import Plan, WorkerPlan
from sedna_operator.lc.auth import market_env
from sedna_operator.runtime.kubernetes.config import OperatorConfig
from sedna_operator.runtime.kubernetes.engine import _inject_env
from sedna_operator.runtime.local.images import ImageMap
from sedna_operator.runtime.local.loop import LocalRuntime, RuntimeConfig
from sedna_operator.runtime.local.store import Store, WorkerRow
from tests.market.test_market_security import USERS, serve

KEY = "shared-job-key-0123456789abcdef"


def _pod(name: str) -> dict[str, object]:
    return {"metadata": {"name": name, "labels": {}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x", "command": ["true"]}]}}


@pytest.mark.parametrize(("kind", "wants_token"), [("LifelongLearningJob", True), ("FederatedLearningJob", False),
                                                   ("IncrementalLearningJob", False)])
def test_both_runtimes_give_ll_workers_the_same_job_token(tmp_path: Path, kind: str, wants_token: bool) -> None:
    want = market_env(KEY, "ns1", kind, "job-a")
    assert bool(want) is wants_token
    assert market_env(None, "ns1", kind, "job-a") == {}  # no key configured: nothing injected
    plan = Plan(create_workers=[WorkerPlan(name="w1", role="train", pod=_pod("w1"), template_hash="h")])
    _inject_env(plan, market_env(KEY, "ns1", kind, "job-a"))
    kube_env = {e["name"]: e["value"] for e in plan.create_workers[0].pod["spec"]["containers"][0].get("env", [])}
    store = Store(tmp_path / "state")
    row = WorkerRow(name="w1", owner_kind=kind, owner_namespace="ns1", owner_name="job-a", role="train",
                    pod=json.dumps(_pod("w1")))
    store.add_worker(row)
    images = ImageMap()
    images.add_option(f"x={tmp_path}")
    local = LocalRuntime(store, RuntimeConfig(lc_url="http://127.0.0.1:1", image_map=images, market_job_key=KEY), {})
    local_env = local.build_processes(row).main.env
    if wants_token:
        token = want["MARKET_API_TOKEN"]
        assert kube_env["MARKET_API_TOKEN"] == local_env["MARKET_API_TOKEN"] == token
        assert verify_market_job_token(KEY, token) == "job:ns1/job-a"
    else:
        assert "MARKET_API_TOKEN" not in kube_env and "MARKET_API_TOKEN" not in local_env


def test_the_operator_reads_the_key_from_the_charts_env() -> None:
    assert OperatorConfig.from_env({"SEDNA_MARKET_JOB_KEY": KEY}).market_job_key == KEY
    assert OperatorConfig.from_env({}).market_job_key is None
    assert KEY not in repr(OperatorConfig.from_env({"SEDNA_MARKET_JOB_KEY": KEY}))


def test_kbclient_uploads_the_index_as_its_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "index.pkl"
    index.write_bytes(b"round 1 index")
    with serve(tmp_path, tokens=json.dumps(USERS), job_token_key=KEY) as url:
        monkeypatch.setenv("MARKET_API_TOKEN", market_env(KEY, "ns1", "LifelongLearningJob", "job-a")["MARKET_API_TOKEN"])
        assert KBClient(url).update_db(str(index)) is not None  # the worker's env token is used
        index.write_bytes(b"round 2 index")
        assert KBClient(url).update_db(str(index)) is not None  # its own file: overwritten
        other = KBClient(url, token=market_job_token(KEY, "ns1", "job-b"))
        with pytest.raises(httpx.HTTPStatusError) as refused:  # another job may not overwrite it
            other.update_db(str(index))
        assert refused.value.response.status_code == 403
        assert "job:ns1/job-a" in refused.value.response.text
