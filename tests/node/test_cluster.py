"""The cluster and the chart as a user meets them: nodes Ready, the chart's components Ready
(operator Deployment, an LC on every node on the host network at port 9100, the knowledge
base), and pods reaching Services by name and ClusterIP, with logs and exec working."""

from __future__ import annotations

import json

import yaml

from tests.support.node import CHART_NAMESPACE, E2E

PROBE = """
import json, socket, urllib.request
out = {"kb_ip": socket.gethostbyname("kb.sedna"),
       "api_ip": socket.gethostbyname("kubernetes.default.svc.cluster.local")}
with urllib.request.urlopen("http://kb.sedna:9020/healthz", timeout=10) as resp:
    out["kb"] = json.loads(resp.read())
print(json.dumps(out))
"""


def test_nodes_ready_with_roles(e2e: E2E) -> None:
    nodes = {n["metadata"]["name"]: n for n in e2e.json("get", "nodes")["items"]}
    assert set(nodes) >= {"cloud-node", "edge-node"}
    for node in nodes.values():
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", node["metadata"]["name"]
    edge = nodes["edge-node"]
    assert "node-role.kubernetes.io/edge" in edge["metadata"]["labels"]
    assert any(t["key"] == "node-role.kubernetes.io/edge" for t in edge["spec"].get("taints") or [])


def test_chart_components_ready(e2e: E2E) -> None:
    for deploy in ("sedna-operator", "sedna-kb"):
        obj = e2e.json("-n", CHART_NAMESPACE, "get", "deployment", deploy)
        assert obj["status"].get("readyReplicas") == obj["spec"]["replicas"] == 1, deploy
        probe = obj["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
        assert probe["httpGet"]["path"] == "/healthz"
    ds = e2e.json("-n", CHART_NAMESPACE, "get", "daemonset", "sedna-lc")
    assert ds["status"]["numberReady"] == ds["status"]["desiredNumberScheduled"] == len(e2e.nodes.nodes)
    assert ds["spec"]["template"]["spec"]["hostNetwork"] is True
    # The operator keeps off the edge; the LC runs on every node, at the node's own address.
    operator = e2e.json("-n", CHART_NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=operator")["items"]
    assert [p["spec"]["nodeName"] for p in operator] == ["cloud-node"]
    lcs = e2e.json("-n", CHART_NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/component=lc")["items"]
    assert sorted(p["spec"]["nodeName"] for p in lcs) == sorted(e2e.nodes.nodes)
    for pod in lcs:
        assert pod["status"]["podIP"] == pod["status"]["hostIP"]
        # Through the API server's proxy: the LC answers on the node's address, port 9100.
        raw = e2e.kubectl("get", "--raw", f"/api/v1/namespaces/{CHART_NAMESPACE}/pods/{pod['metadata']['name']}:9100/proxy/healthz")
        assert json.loads(raw.stdout) == {"status": "ok", "node": pod["spec"]["nodeName"]}
    # The knowledge base keeps its data on a bound PersistentVolumeClaim (the chart's default).
    pvc = e2e.json("-n", CHART_NAMESPACE, "get", "pvc", "sedna-kb-data")
    assert pvc["status"]["phase"] == "Bound"


def test_pods_reach_services_by_name_on_every_node(e2e: E2E) -> None:
    ns = "sedna-e2e-net"
    e2e.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", timeout=180)
    e2e.kubectl("create", "namespace", ns)
    pods = []
    for node in e2e.nodes.nodes:
        pods.append({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"probe-{node}"},
            "spec": {
                "nodeName": node, "terminationGracePeriodSeconds": 1,
                "tolerations": [{"operator": "Exists"}],
                "containers": [{
                    "name": "probe", "image": "sedna-py/worker:0.1.0", "imagePullPolicy": "Never",
                    "command": ["python3", "-c", "import time; print('probe up', flush=True); time.sleep(3600)"],
                }],
            },
        })  # fmt: skip
    e2e.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all(pods))
    e2e.kubectl("-n", ns, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s", timeout=150)
    kb_ip = e2e.jsonpath(CHART_NAMESPACE, "service/kb", "{.spec.clusterIP}")
    for node in e2e.nodes.nodes:
        out = json.loads(e2e.kubectl("-n", ns, "exec", f"probe-{node}", "--", "python3", "-c", PROBE).stdout)
        assert out["kb_ip"] == kb_ip and out["api_ip"] == "10.96.0.1", node
        assert out["kb"]["status"] == "ok", node
        assert "probe up" in e2e.kubectl("-n", ns, "logs", f"probe-{node}").stdout
    e2e.kubectl("delete", "namespace", ns, "--wait=false")


def test_kubectl_get_sedna_lists_every_kind(e2e: E2E) -> None:
    crds = e2e.kubectl("get", "crd", "-o", "name").stdout.split()
    assert {f"customresourcedefinition.apiextensions.k8s.io/{p}.sedna.io" for p in (
        "datasets", "models", "jointinferenceservices", "federatedlearningjobs",
        "incrementallearningjobs", "lifelonglearningjobs",
    )} <= set(crds)  # fmt: skip
    assert e2e.kubectl("get", "sedna", "-A").returncode == 0
