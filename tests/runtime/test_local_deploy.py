"""The LC's deploy work in the local runtime (IL hot update, LL index copy), the state-dir
mapping of ``/var/lib/sedna``, when a service is done and which workers drain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sedna_operator.lc.localjobs import prepare_lc_files
from sedna_operator.runtime.local.loop import LocalRuntime, RuntimeConfig
from sedna_operator.runtime.local.podenv import PodContext, ServiceInfo, pod_processes
from sedna_operator.runtime.local.session import state_host_path
from sedna_operator.runtime.local.store import ResourceRow, Store, WorkerRow

HOT = "/var/lib/sedna/model-hot-update/default/incrementallearningjob/il"
REQUESTED = "2030-01-02T03:04:05Z"


def _runtime(tmp_path: Path) -> LocalRuntime:
    store = Store(tmp_path / "state")
    return LocalRuntime(
        store, RuntimeConfig(lc_url="http://127.0.0.1:1", host_path=state_host_path(tmp_path / "state")), {}
    )


def _job(rt: LocalRuntime, kind: str, name: str, deploy: dict[str, Any]) -> ResourceRow:
    rt.store.apply(
        {
            "apiVersion": "sedna.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "default"},
            "spec": {},
        }
    )
    rt.store.patch_status(kind, "default", name, {"controllerState": {"deploy": deploy}})
    row = rt.store.get(kind, "default", name)
    assert row is not None
    return row


def _hot_request(source: Path) -> dict[str, Any]:
    return {
        "round": 1,
        "kind": "hotUpdate",
        "source": str(source),
        "target": f"{HOT}/model.json",
        "config": f"{HOT}/model_config.json",
        "modelPath": "/model-hot-update/model.json",
        "requestedAt": REQUESTED,
    }


def test_state_host_path_moves_only_var_lib_sedna(tmp_path: Path) -> None:
    host = state_host_path(tmp_path)
    assert host("/var/lib/sedna/x/y") == str(tmp_path.resolve() / "var/lib/sedna/x/y")
    assert host("/var/lib/sedna") == str(tmp_path.resolve() / "var/lib/sedna")
    assert host("/var/lib/sednax/y") == "/var/lib/sednax/y"
    assert host("/data/out") == "/data/out"


def test_hot_update_copies_the_model_and_writes_the_config_once(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    model = tmp_path / "out" / "train" / "1" / "model.json"
    model.parent.mkdir(parents=True)
    model.write_text('{"layers": []}')
    row = _job(rt, "IncrementalLearningJob", "il", _hot_request(model))
    files = prepare_lc_files(rt, row)
    local = Path(state_host_path(tmp_path / "state")(HOT))
    assert files == {f"{HOT}/model.json": True}
    assert (local / "model.json").read_text() == '{"layers": []}'
    config = json.loads((local / "model_config.json").read_text())
    assert config == {
        "model_config": {
            "model_path": "/model-hot-update/model.json",
            "model_update_time": "2030-01-02T03:04:05+00:00",
        }
    }
    model.write_text("changed")  # the same request is not carried out twice
    prepare_lc_files(rt, row)
    assert (local / "model.json").read_text() == '{"layers": []}'
    assert [e.reason for e in rt.store.events("IncrementalLearningJob")].count("DeployCopied") == 1


def test_missing_source_is_an_event_and_retried(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    model = tmp_path / "late.json"
    row = _job(rt, "IncrementalLearningJob", "il", _hot_request(model))
    assert prepare_lc_files(rt, row) == {f"{HOT}/model.json": False}
    prepare_lc_files(rt, row)
    reasons = [e.reason for e in rt.store.events("IncrementalLearningJob")]
    assert reasons == ["DeployCopyFailed"]  # reported once
    model.write_text("m")
    assert prepare_lc_files(rt, row) == {f"{HOT}/model.json": True}


def test_ll_copy_of_the_eval_index(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    index = tmp_path / "out" / "eval" / "1" / "deploy" / "index.pkl"
    index.parent.mkdir(parents=True)
    index.write_bytes(b"kb")
    target = str(tmp_path / "out" / "deploy" / "index.pkl")
    row = _job(
        rt,
        "LifelongLearningJob",
        "ll",
        {"round": 1, "kind": "copy", "source": str(index), "target": target, "requestedAt": REQUESTED},
    )
    assert prepare_lc_files(rt, row) == {target: True}
    assert Path(target).read_bytes() == b"kb"


def test_unknown_deploy_kind_is_ignored(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    row = _job(rt, "LifelongLearningJob", "ll", {"kind": "other", "source": "/a", "target": "/b"})
    assert prepare_lc_files(rt, row) == {}


def test_server_bind_ip_defaults_to_loopback(tmp_path: Path) -> None:
    pod = {
        "metadata": {"name": "ji-cloud-x", "namespace": "default", "labels": {"app": "cloud"}},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "command": ["python", "s.py"],
                    "env": [{"name": "BIG_MODEL_BIND_PORT", "value": "5000"}],
                }
            ]
        },
    }
    svc = ServiceInfo("ji-cloud", "default", {"app": "cloud"}, {5000: 41000})
    ctx = PodContext(
        lc_url="http://127.0.0.1:1", pod_dir=tmp_path / "pod", default_image_dir=tmp_path, services=[svc]
    )
    env = pod_processes(pod, ctx).main.env
    assert env["BIG_MODEL_BIND_PORT"] == "41000" and env["BIG_MODEL_BIND_IP"] == "127.0.0.1"
    pod["spec"]["containers"][0]["env"].append({"name": "BIG_MODEL_BIND_IP", "value": "0.0.0.0"})  # type: ignore[index]
    assert pod_processes(pod, ctx).main.env["BIG_MODEL_BIND_IP"] == "0.0.0.0"


def _worker(rt: LocalRuntime, name: str, kind: str, owner: str, phase: str, pid: int | None) -> None:
    rt.store.add_worker(
        WorkerRow(
            name=name,
            owner_kind=kind,
            owner_namespace="default",
            owner_name=owner,
            role=name,
            pod="{}",
            template_hash="",
            phase=phase,
            pid=pid,
            log_path="",
            created_at="2030-01-01T00:00:00Z",
        )
    )


def test_service_done_and_draining(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    rt.store.apply(
        {
            "apiVersion": "sedna.io/v1alpha1",
            "kind": "JointInferenceService",
            "metadata": {"name": "ji", "namespace": "default"},
            "spec": {},
        }
    )
    _worker(rt, "ji-cloud", "JointInferenceService", "ji", "Running", 12345)
    assert not rt.done()
    _worker(rt, "ji-edge", "JointInferenceService", "ji", "Succeeded", None)
    assert rt.done()  # the edge ended its stream: the service is done
    assert rt.draining() == []  # servers of a done service are stopped, not waited for
    _job(rt, "IncrementalLearningJob", "il", {})
    rt.store.set_finished("IncrementalLearningJob", "default", "il", True)
    _worker(rt, "il-inference", "IncrementalLearningJob", "il", "Running", 23456)
    _worker(rt, "il-train", "IncrementalLearningJob", "il", "Succeeded", None)
    assert rt.draining() == ["il-inference"]
