"""Pod building (names, labels, owner, env order, policies) and Sedna's URL/mount semantics."""

from __future__ import annotations

import pytest

from sedna_operator.api import PodTemplateSpec, parse_resource
from sedna_operator.controllers.mounts import MountSet
from sedna_operator.controllers.plan import ObservedSecret
from sedna_operator.controllers.workers import PodExtras, build_service, build_worker, env, worker_name

from .helpers import UID, env_of, sample


def _ji():  # type: ignore[no-untyped-def]
    return parse_resource(sample("jointinferenceservice_v1alpha1.yaml"))


def test_names_are_deterministic_and_distinct() -> None:
    res = _ji()
    a = worker_name(res, "edge", "edge.0")
    assert a == worker_name(res, "edge", "edge.0")
    assert a.startswith("helmet-detection-inference-example-edge-") and len(a.rsplit("-", 1)[1]) == 5
    assert len({a, worker_name(res, "edge", "edge.1"), worker_name(res, "cloud", "cloud.0")}) == 3
    long = parse_resource({**sample("dataset_v1alpha1.yaml"), "metadata": {"name": "x" * 80, "uid": UID}})
    assert len(worker_name(long, "train", 0)) == 63


def test_build_worker_policies_and_env_order() -> None:
    res = _ji()
    tmpl = PodTemplateSpec.model_validate({"metadata": {"labels": {"app": "a"}}, "spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "i", "env": [{"name": "USER", "value": "1"}]},
                                                 {"name": "d", "image": "j"}]}})
    extras = PodExtras(env=[env("X", 1)], restart_policy="OnFailure", host_network=True)
    w = build_worker(res, role="edge", template=tmpl, attempt=0, extras=extras, lc_server="http://lc:9100", template_hash="h")
    pod = w.pod
    assert pod["spec"]["restartPolicy"] == "Never"  # template wins
    assert pod["spec"]["hostNetwork"] is True and pod["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["metadata"]["labels"]["app"] == "a"
    assert pod["metadata"]["annotations"]["sedna.io/template-hash"] == "h"
    for i in (0, 1):
        names = [e["name"] for e in pod["spec"]["containers"][i]["env"]]
        assert names[-4:] == ["NODE_IP", "LC_SERVER", "WORKER_NAME", "X"]  # appended to every container
    assert [e["name"] for e in pod["spec"]["containers"][0]["env"]][0] == "USER"
    assert env_of(pod)["NODE_IP"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.hostIP"}}
    assert env_of(pod)["WORKER_NAME"] == w.name
    tmpl2 = PodTemplateSpec.model_validate({"spec": {"containers": [{"name": "c", "image": "i"}]}})
    w2 = build_worker(res, role="edge", template=tmpl2, attempt=0, extras=extras, lc_server="x", template_hash="h")
    assert w2.pod["spec"]["restartPolicy"] == "OnFailure"
    # The worker's process is not PID 1 (which would ignore SIGTERM), unless the template says so.
    assert pod["spec"]["shareProcessNamespace"] is True
    tmpl3 = PodTemplateSpec.model_validate({"spec": {"shareProcessNamespace": False, "containers": [{"name": "c", "image": "i"}]}})
    w3 = build_worker(res, role="edge", template=tmpl3, attempt=0, extras=extras, lc_server="x", template_hash="h")
    assert w3.pod["spec"]["shareProcessNamespace"] is False


def test_node_bound_workers_ride_out_partitions() -> None:
    """Pinned to a node, a worker is not evicted when the node becomes unreachable (it could only
    be deleted); a template's own toleration for a taint is kept as it is."""
    res = _ji()
    extras = PodExtras()
    bound = PodTemplateSpec.model_validate({"spec": {"nodeName": "edge-node", "containers": [{"name": "c", "image": "i"}],
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 60}]}})
    pod = build_worker(res, role="edge", template=bound, attempt=0, extras=extras, lc_server="x", template_hash="h").pod
    assert pod["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    ]
    free = PodTemplateSpec.model_validate({"spec": {"containers": [{"name": "c", "image": "i"}]}})
    pod = build_worker(res, role="cloud", template=free, attempt=0, extras=extras, lc_server="x", template_hash="h").pod
    assert "tolerations" not in pod["spec"]  # a scheduled pod may be evicted and placed again


def test_service() -> None:
    s = build_service(_ji(), "cloud", 5000)
    assert s.name == "helmet-detection-inference-example-cloud"
    spec = s.service["spec"]
    assert spec["ports"] == [{"name": "tcp-0", "protocol": "TCP", "port": 5000, "targetPort": 5000}]
    assert spec["selector"]["jointinferenceservice.sedna.io/worker-type"] == "cloud"
    assert s.service["metadata"]["ownerReferences"][0]["controller"] is True


@pytest.mark.parametrize(
    "url,kw,value,host_dir,hp_type",
    [
        ("/data/model/m.pb", {}, "/home/data/data/model/m.pb", "/data/model", "Directory"),  # file: parent mounted
        ("/data/model/", {}, "/home/data/data/model/", "/data/model", "Directory"),
        ("/output/train/1", {"is_dir": True, "create": True}, "/home/data/output/train/1", "/output/train/1", "DirectoryOrCreate"),
        ("file:///data/x.txt", {}, "/home/data/data/x.txt", "/data", "Directory"),
    ],
)
def test_host_paths(url: str, kw: dict, value: str, host_dir: str, hp_type: str) -> None:
    m = MountSet()
    assert m.add("MODEL_URL", url, **kw) == value
    ex = m.extras()
    assert ex.volumes[0]["hostPath"] == {"path": host_dir, "type": hp_type}
    assert ex.volume_mounts[0]["mountPath"] == "/home/data" + host_dir
    assert {"name": "DATA_PATH_PREFIX", "value": "/home/data"} in ex.env
    if kw.get("create"):  # an output: made writable for a non-root worker by the initializer, as root
        (init,) = ex.init_containers
        assert init["args"] == ["--writable", "/home/data" + host_dir]
        assert init["volumeMounts"] == [{"name": ex.volumes[0]["name"], "mountPath": "/home/data" + host_dir}]
        assert init["securityContext"] == {"runAsUser": 0, "runAsNonRoot": False}
    else:
        assert not ex.init_containers


def test_downloads_and_outputs_share_one_initializer() -> None:
    m = MountSet(initializer_image="init:1")
    m.add("MODEL_URL", "https://h.io/m.pb")
    m.add("OUTPUT_URL", "/out/eval/2", is_dir=True, create=True)
    (init,) = m.extras().init_containers
    assert init["args"] == ["--writable", "/home/data/out/eval/2", "https://h.io/m.pb", "/downloads/h.io"]
    assert [v["mountPath"] for v in init["volumeMounts"]] == ["/downloads", "/home/data/out/eval/2"]
    assert init["securityContext"]["runAsUser"] == 0


def test_remote_download_with_secret_ref() -> None:
    m = MountSet(initializer_image="init:1")
    assert m.add("MODEL_URL", "s3://kubeedge/model/m.pb", credential_name="mysecret") == "/downloads/kubeedge/model/m.pb"
    assert m.add("MODEL_URLS", ["https://h.io/a/b.zip", "/x/y.pb"]) == "/downloads/h.io/a/b.zip;/home/data/x/y.pb"
    ex = m.extras()
    init = ex.init_containers[0]
    assert init["name"] == "storage-initializer" and init["image"] == "init:1"
    assert init["command"] == ["python", "-m", "sedna.storage_initializer"]
    assert init["args"] == ["s3://kubeedge/model/m.pb", "/downloads/kubeedge/model", "https://h.io/a/b.zip", "/downloads/h.io/a"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"]}
    assert refs["ACCESS_KEY_ID"] == {"name": "mysecret", "key": "ACCESS_KEY_ID"}
    assert refs["SECRET_ACCESS_KEY"] == {"name": "mysecret", "key": "SECRET_ACCESS_KEY"}
    assert {"name": "sedna-storage-initializer", "mountPath": "/downloads", "readOnly": True} in ex.volume_mounts
    assert {"name": "sedna-storage-initializer", "emptyDir": {}} in ex.volumes
    assert all(e["name"] != "ACCESS_KEY_ID" for e in ex.env)  # worker itself gets no credentials


def test_remote_not_downloaded_inline_credentials() -> None:
    secret = ObservedSecret(name="s", annotations={"s3-endpoint": "minio:9000", "s3-usehttps": "0"},
                            data={"ACCESS_KEY_ID": "ak", "SECRET_ACCESS_KEY": "sk"})
    m = MountSet(credentials={"s": secret}, inline_credentials=True)
    assert m.add("AGG_DATA_PATH", "s3://b/agg", download=False, credential_name="s") == "s3://b/agg"
    ex = m.extras()
    got = {e["name"]: e.get("value") for e in ex.env}
    assert got == {"AGG_DATA_PATH": "s3://b/agg", "S3_ENDPOINT_URL": "http://minio:9000", "ACCESS_KEY_ID": "ak",
                   "SECRET_ACCESS_KEY": "sk"}
    assert not ex.init_containers
