"""The Helm chart (charts/sedna): lint it and check what it renders.

Needs `helm`. It is looked up in $SEDNA_TOOLS_DIR, then in the cache dir that
scripts/install-kube-tools.sh installs into, then on PATH. Without helm these tests FAIL
(they are part of the deliverable, not optional): run scripts/install-kube-tools.sh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "sedna"
INSTALL_SCRIPT = REPO / "scripts" / "install-kube-tools.sh"
RELEASE = "sedna"
NAMESPACE = "sedna"


def _tools_dir() -> Path:
    if os.environ.get("SEDNA_TOOLS_DIR"):
        return Path(os.environ["SEDNA_TOOLS_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sedna" / "bin"


def find_helm() -> str | None:
    candidate = _tools_dir() / "helm"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which("helm")


@pytest.fixture(scope="session")
def helm() -> str | None:
    # Not failing here: a fixture failure is reported as an error, and a missing helm must make
    # every test FAIL (run_helm does that) with the hint below.
    return find_helm()


def run_helm(helm: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if helm is None:
        pytest.fail(
            f"helm not found (looked in {_tools_dir()} and on PATH). "
            f"Install it with: {INSTALL_SCRIPT.relative_to(REPO)}",
            pytrace=False,
        )
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def render(helm: str | None, *overrides: str, include_crds: bool = False) -> list[dict[str, Any]]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if include_crds:
        args.append("--include-crds")
    for o in overrides:
        args += ["--set", o]
    out = run_helm(helm, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in c.get("env", [])}


_DEFAULT_DOCS: list[dict[str, Any]] = []


def default_docs(helm: str | None) -> list[dict[str, Any]]:
    """The default render, computed once."""
    if not _DEFAULT_DOCS:
        _DEFAULT_DOCS.extend(render(helm))
    return _DEFAULT_DOCS


# --------------------------------------------------------------------------- lint


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
def test_helm_lint_clean(helm: str | None, strict: bool) -> None:
    args = ["lint", str(CHART)] + (["--strict"] if strict else [])
    proc = run_helm(helm, *args, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "[ERROR]" not in out and "[WARNING]" not in out, out


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "sedna"
    assert str(chart["appVersion"]) == "0.1.0"


# --------------------------------------------------------------------------- default render


EXPECTED_OBJECTS = {
    ("ServiceAccount", "sedna-operator"),
    ("ServiceAccount", "sedna-lc"),
    ("ServiceAccount", "sedna-kb"),
    ("ClusterRole", "sedna-operator"),
    ("ClusterRoleBinding", "sedna-operator"),
    ("ClusterRole", "sedna-lc"),
    ("ClusterRoleBinding", "sedna-lc"),
    ("Deployment", "sedna-operator"),
    ("DaemonSet", "sedna-lc"),
    ("Deployment", "sedna-kb"),
    ("Service", "kb"),
    ("PersistentVolumeClaim", "sedna-kb-data"),
    ("Secret", "sedna-lc-report-auth"),
    ("Secret", "sedna-kb-auth"),
}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def test_every_expected_object_rendered(helm: str | None) -> None:
    docs = default_docs(helm)
    rendered = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert rendered == EXPECTED_OBJECTS


def test_objects_are_well_formed(helm: str | None) -> None:
    docs = default_docs(helm)
    for d in docs:
        assert d.get("apiVersion") and d.get("kind"), d
        meta = d["metadata"]
        assert len(meta["name"]) <= 63
        assert meta["labels"]["app.kubernetes.io/instance"] == RELEASE
        assert meta["labels"]["app.kubernetes.io/part-of"] == "sedna"
        if d["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta
        else:
            assert meta["namespace"] == NAMESPACE


def test_selectors_match_pod_labels(helm: str | None) -> None:
    docs = default_docs(helm)
    for d in by_kind(docs, "Deployment") + by_kind(docs, "DaemonSet"):
        selector = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), d["metadata"]["name"]
    svc = one(docs, "Service", "kb")
    kb_labels = one(docs, "Deployment", "sedna-kb")["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= kb_labels.items()


def test_each_component_uses_its_service_account(helm: str | None) -> None:
    docs = default_docs(helm)
    for kind, name in [
        ("Deployment", "sedna-operator"),
        ("DaemonSet", "sedna-lc"),
        ("Deployment", "sedna-kb"),
    ]:
        pod = one(docs, kind, name)["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        one(docs, "ServiceAccount", name)


def test_bindings_bind_the_right_service_accounts(helm: str | None) -> None:
    docs = default_docs(helm)
    for name in ("sedna-operator", "sedna-lc"):
        binding = one(docs, "ClusterRoleBinding", name)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": name,
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]


# --------------------------------------------------------------------------- operator


def test_operator_deployment(helm: str | None) -> None:
    docs = default_docs(helm)
    dep = one(docs, "Deployment", "sedna-operator")
    assert dep["spec"]["replicas"] == 1
    pod = dep["spec"]["template"]
    c = container(dep)
    assert c["command"] == ["sedna"]
    assert c["args"][0] == "operator"
    assert not any(a.startswith("--namespace") for a in c["args"])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"health": 8081, "metrics": 8080}
    assert "--metrics-port=8080" in c["args"] and "--health-port=8081" in c["args"]
    probe = c["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and probe["port"] in ("health", 8081)
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/port"] == "8080"
    assert ann["prometheus.io/path"] == "/metrics"
    env = env_of(c)
    assert env["SEDNA_KB_SERVER"]["value"] == f"http://kb.{NAMESPACE}:9020"
    assert env["SEDNA_LC_PORT"]["value"] == "9100"
    assert env["SEDNA_STORAGE_INITIALIZER_IMAGE"]["value"] == "sedna-py/storage-initializer:0.1.0"
    assert c["image"] == "sedna-py/sedna:0.1.0"
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def _required_terms(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]


NOT_EDGE = {"key": "node-role.kubernetes.io/edge", "operator": "DoesNotExist"}


def test_operator_stays_off_edge_nodes(helm: str | None) -> None:
    docs = default_docs(helm)
    pod = one(docs, "Deployment", "sedna-operator")["spec"]["template"]["spec"]
    terms = _required_terms(pod)
    assert terms and all(NOT_EDGE in t["matchExpressions"] for t in terms)


def test_operator_edge_exclusion_is_anded_with_user_affinity(helm: str | None) -> None:
    docs = render(
        helm,
        "operator.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].key=zone",
        "operator.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].operator=In",
        "operator.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].values[0]=cloud",
    )
    pod = one(docs, "Deployment", "sedna-operator")["spec"]["template"]["spec"]
    terms = _required_terms(pod)
    assert terms == [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["cloud"]}, NOT_EDGE]}]
    off = render(helm, "operator.avoidEdgeNodes=false")
    assert "affinity" not in one(off, "Deployment", "sedna-operator")["spec"]["template"]["spec"]


def test_watch_namespaces_render_flags(helm: str | None) -> None:
    docs = render(helm, "watchNamespaces={team-a,team-b}")
    c = container(one(docs, "Deployment", "sedna-operator"))
    assert [a for a in c["args"] if a.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]
    assert env_of(c)["SEDNA_WATCH_NAMESPACES"]["value"] == "team-a,team-b"
    # The ClusterRole stays (CRD discovery, peering and the LC are cluster scoped).
    one(docs, "ClusterRole", "sedna-operator")


def test_metrics_can_be_disabled(helm: str | None) -> None:
    docs = render(helm, "operator.metrics.enabled=false")
    dep = one(docs, "Deployment", "sedna-operator")
    c = container(dep)
    assert [p["name"] for p in c["ports"]] == ["health"]
    assert not any(a.startswith("--metrics-port") for a in c["args"])
    assert "prometheus.io/scrape" not in (dep["spec"]["template"]["metadata"].get("annotations") or {})


# --------------------------------------------------------------------------- local controller


def test_lc_daemonset(helm: str | None) -> None:
    docs = default_docs(helm)
    ds = one(docs, "DaemonSet", "sedna-lc")
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    c = container(ds)
    assert c["command"] == ["sedna"] and c["args"][0] == "lc"
    assert c["ports"] == [{"name": "http", "containerPort": 9100, "hostPort": 9100, "protocol": "TCP"}]
    env = env_of(c)
    assert env["NODENAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["BIND_PORT"]["value"] == "9100"
    assert env["ROOTFS_MOUNT_DIR"]["value"] == "/rootfs"
    assert env["KB_SERVER"]["value"] == f"http://kb.{NAMESPACE}:9020"


def test_lc_tolerates_edge_and_control_plane(helm: str | None) -> None:
    docs = default_docs(helm)
    tolerations = one(docs, "DaemonSet", "sedna-lc")["spec"]["template"]["spec"]["tolerations"]
    keys = {t["key"] for t in tolerations if t.get("operator") == "Exists"}
    assert {"node-role.kubernetes.io/edge", "node-role.kubernetes.io/control-plane"} <= keys


def test_lc_host_mounts(helm: str | None) -> None:
    docs = default_docs(helm)
    ds = one(docs, "DaemonSet", "sedna-lc")
    volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container(ds)["volumeMounts"]}
    root = mounts["/rootfs"]
    assert root["readOnly"] is True
    assert volumes[root["name"]]["hostPath"]["path"] == "/"
    data = mounts["/var/lib/sedna"]
    assert not data.get("readOnly", False)
    assert volumes[data["name"]]["hostPath"] == {"path": "/var/lib/sedna", "type": "DirectoryOrCreate"}
    # Every other hostPath volume is mounted read-only or is a declared writable dir.
    for m in mounts.values():
        vol = volumes[m["name"]]
        if "hostPath" in vol and not m.get("readOnly"):
            assert vol["hostPath"]["path"] == m["mountPath"]


def test_lc_port_and_writable_paths_overrides(helm: str | None) -> None:
    docs = render(helm, "lc.port=9200", "lc.extraWritableHostPaths={/output}")
    ds = one(docs, "DaemonSet", "sedna-lc")
    c = container(ds)
    assert c["ports"][0]["containerPort"] == 9200 and c["ports"][0]["hostPort"] == 9200
    env = env_of(c)
    assert env["BIND_PORT"]["value"] == "9200"
    assert env["SEDNA_WRITABLE_HOST_PATHS"]["value"] == "/var/lib/sedna:/output"
    assert any(m["mountPath"] == "/output" and not m.get("readOnly") for m in c["volumeMounts"])
    op_env = env_of(container(one(docs, "Deployment", "sedna-operator")))
    assert op_env["SEDNA_LC_PORT"]["value"] == "9200"


def _rules(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return one(docs, "ClusterRole", name)["rules"]


def _grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r.get("apiGroups", [])
        and (resource in r.get("resources", []) or "*" in r.get("resources", []))
        and (verb in r.get("verbs", []) or "*" in r.get("verbs", []))
        for r in rules
    )


def test_lc_rbac_is_least_privilege(helm: str | None) -> None:
    docs = default_docs(helm)
    rules = _rules(docs, "sedna-lc")
    for verb in ("create", "delete", "patch", "update", "get", "list"):
        assert not _grants(rules, "", "pods", verb), f"LC must not {verb} pods"
    # get only (the credentialName Secret of s3 datasets and outputDirs), never list or watch
    assert _grants(rules, "", "secrets", "get")
    assert not _grants(rules, "", "secrets", "list")
    assert not _grants(rules, "", "secrets", "watch")
    assert not _grants(rules, "apps", "deployments", "create")
    for r in rules:
        assert "*" not in r["verbs"]
        assert "*" not in r["apiGroups"]
    assert _grants(rules, "sedna.io", "*/status", "patch")
    for res in (
        "datasets",
        "models",
        "incrementallearningjobs",
        "lifelonglearningjobs",
        "federatedlearningjobs",
        "jointinferenceservices",
    ):
        assert _grants(rules, "sedna.io", res, "watch")
        assert not _grants(rules, "sedna.io", res, "patch")
        assert not _grants(rules, "sedna.io", res, "delete")
    assert _grants(rules, "", "events", "create")


def test_operator_rbac(helm: str | None) -> None:
    docs = default_docs(helm)
    rules = _rules(docs, "sedna-operator")
    for r in rules:
        assert "*" not in r["verbs"] and "*" not in r["apiGroups"]
    for res in (
        "jointinferenceservices",
        "federatedlearningjobs",
        "incrementallearningjobs",
        "lifelonglearningjobs",
        "datasets",
        "models",
    ):
        for verb in ("get", "list", "watch", "patch"):
            assert _grants(rules, "sedna.io", res, verb)
        assert not _grants(rules, "sedna.io", res, "create")
        # Deleting is for the training jobs' ttlSecondsAfterFinished only.
        assert _grants(rules, "sedna.io", res, "delete") == res.endswith("jobs")
    for verb in ("get", "patch", "update"):
        assert _grants(rules, "sedna.io", "*/status", verb)
    for verb in ("create", "get", "list", "watch", "delete", "patch"):
        assert _grants(rules, "", "pods", verb) and _grants(rules, "", "services", verb)
    for verb in ("create", "get", "list", "watch", "update", "patch", "delete"):
        assert _grants(rules, "apps", "deployments", verb)
    for verb in ("create", "get", "list", "watch", "update", "delete"):
        assert _grants(rules, "autoscaling", "horizontalpodautoscalers", verb)
    # Secrets: read one by name, nothing else.
    secret_verbs = {v for r in rules if "secrets" in r["resources"] for v in r["verbs"]}
    assert secret_verbs == {"get"}
    assert _grants(rules, "", "events", "create") and _grants(rules, "", "events", "patch")
    for res in ("clusterkopfpeerings", "kopfpeerings"):
        for verb in ("get", "list", "watch", "patch"):
            assert _grants(rules, "kopf.dev", res, verb)
    assert _grants(rules, "coordination.k8s.io", "leases", "update")


# --------------------------------------------------------------------------- knowledge base


def test_kb_service_and_deployment(helm: str | None) -> None:
    docs = default_docs(helm)
    svc = one(docs, "Service", "kb")
    assert svc["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(9020, "http")]
    dep = one(docs, "Deployment", "sedna-kb")
    c = container(dep)
    assert c["args"][:2] == ["kb", "serve"]
    assert {"name": "http", "containerPort": 9020, "protocol": "TCP"} in c["ports"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert one(docs, "ServiceAccount", "sedna-kb")["automountServiceAccountToken"] is False
    # No RBAC for the knowledge base.
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for b in by_kind(docs, kind):
            assert all(s["name"] != "sedna-kb" for s in b["subjects"])


def test_kb_sqlite_on_pvc_by_default(helm: str | None) -> None:
    docs = default_docs(helm)
    pvc = one(docs, "PersistentVolumeClaim", "sedna-kb-data")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert "storageClassName" not in pvc["spec"]
    dep = one(docs, "Deployment", "sedna-kb")
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "sedna-kb-data"
    env = env_of(container(dep))
    assert env["KB_URL"]["value"] == "sqlite:////data/kb.sqlite3"


def test_kb_persistence_overrides(helm: str | None) -> None:
    docs = render(helm, "kb.persistence.size=20Gi", "kb.persistence.storageClass=fast")
    pvc = one(docs, "PersistentVolumeClaim", "sedna-kb-data")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert pvc["spec"]["storageClassName"] == "fast"
    existing = render(helm, "kb.persistence.existingClaim=my-claim")
    assert not by_kind(existing, "PersistentVolumeClaim")
    vols = one(existing, "Deployment", "sedna-kb")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "my-claim"}} in vols


def test_kb_database_url_removes_pvc_and_uses_a_secret(helm: str | None) -> None:
    url = "postgresql://kb:pw@db.example:5432/kb"
    docs = render(helm, f"kb.databaseUrl={url}")
    assert not by_kind(docs, "PersistentVolumeClaim")
    secret = one(docs, "Secret", "sedna-kb-db")
    assert secret["stringData"]["database-url"] == url
    dep = one(docs, "Deployment", "sedna-kb")
    env = env_of(container(dep))
    assert env["KB_URL"]["valueFrom"]["secretKeyRef"] == {"name": "sedna-kb-db", "key": "database-url"}
    assert url not in yaml.safe_dump(dep), "the database URL must not appear in the pod spec"
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["data"]


def test_kb_existing_secret(helm: str | None) -> None:
    docs = render(helm, "kb.existingSecret.name=pg", "kb.existingSecret.key=url")
    kb_secrets = [d for d in by_kind(docs, "Secret") if d["metadata"]["name"].startswith("sedna-kb")]
    assert not by_kind(docs, "PersistentVolumeClaim")
    assert [d["metadata"]["name"] for d in kb_secrets] == ["sedna-kb-auth"]  # no database Secret
    env = env_of(container(one(docs, "Deployment", "sedna-kb")))
    assert env["KB_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "url"}


def test_kb_writes_need_a_generated_token_by_default(helm: str | None) -> None:
    """Issue 12 item 6: the market refuses to start writable without a token, so the chart
    generates one (kept across upgrades, like the LC's report key) and passes it as
    MARKET_API_TOKEN; the storage quota is set below the PVC."""
    import base64

    docs = default_docs(helm)
    token = base64.b64decode(one(docs, "Secret", "sedna-kb-auth")["data"]["token"]).decode()
    assert len(token) == 48 and token.isalnum()
    env = env_of(container(one(docs, "Deployment", "sedna-kb")))
    assert env["MARKET_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "sedna-kb-auth", "key": "token"}
    assert "MARKET_INSECURE" not in env and "MARKET_TOKENS" not in env
    assert int(env["SEDNA_MARKET_MAX_STORAGE_BYTES"]["value"]) == 4 * 1024**3
    # the key of per-job tokens: generated beside the admin token, shared by market and operator
    key = base64.b64decode(one(docs, "Secret", "sedna-kb-auth")["data"]["job-token-key"]).decode()
    assert len(key) == 48 and key != token
    ref = {"name": "sedna-kb-auth", "key": "job-token-key", "optional": True}
    assert env["MARKET_JOB_TOKEN_KEY"]["valueFrom"]["secretKeyRef"] == ref
    operator_env = env_of(container(one(docs, "Deployment", "sedna-operator")))
    assert operator_env["SEDNA_MARKET_JOB_KEY"]["valueFrom"]["secretKeyRef"] == ref


def test_kb_token_value_existing_secret_and_insecure(helm: str | None) -> None:
    import base64

    docs = render(helm, "kb.auth.token=fixed-token-0123456789")
    assert base64.b64decode(one(docs, "Secret", "sedna-kb-auth")["data"]["token"]).decode() == "fixed-token-0123456789"
    docs = render(helm, "kb.auth.existingSecret=market-users", "kb.auth.tokenKey=admin", "kb.maxStorageBytes=0")
    assert all(d["metadata"]["name"] != "sedna-kb-auth" for d in by_kind(docs, "Secret"))
    env = env_of(container(one(docs, "Deployment", "sedna-kb")))
    assert env["MARKET_API_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "market-users", "key": "admin", "optional": True}
    assert env["MARKET_TOKENS"]["valueFrom"]["secretKeyRef"] == {
        "name": "market-users", "key": "tokens.json", "optional": True}
    assert env["SEDNA_MARKET_MAX_STORAGE_BYTES"]["value"] == "0"
    docs = render(helm, "kb.auth.insecure=true")
    assert all(d["metadata"]["name"] != "sedna-kb-auth" for d in by_kind(docs, "Secret"))
    env = env_of(container(one(docs, "Deployment", "sedna-kb")))
    assert env["MARKET_INSECURE"]["value"] == "1" and "MARKET_API_TOKEN" not in env
    assert "SEDNA_MARKET_JOB_KEY" not in env_of(container(one(docs, "Deployment", "sedna-operator")))


def test_kb_can_be_disabled(helm: str | None) -> None:
    docs = render(helm, "kb.enabled=false")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert not any(n.startswith("sedna-kb") or n == "kb" for _, n in names)
    assert "SEDNA_KB_SERVER" not in env_of(container(one(docs, "Deployment", "sedna-operator")))


# --------------------------------------------------------------------------- values


def test_images_tags_and_pull_secrets(helm: str | None) -> None:
    docs = render(
        helm,
        "images.operator.repository=reg.example/op",
        "images.operator.tag=v9",
        "images.lc.pullPolicy=Always",
        "imagePullSecrets[0].name=regcred",
    )
    op = one(docs, "Deployment", "sedna-operator")
    assert container(op)["image"] == "reg.example/op:v9"
    lc = one(docs, "DaemonSet", "sedna-lc")
    assert container(lc)["imagePullPolicy"] == "Always"
    for d in by_kind(docs, "Deployment") + by_kind(docs, "DaemonSet"):
        assert d["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_node_selectors_and_tolerations_per_component(helm: str | None) -> None:
    docs = render(
        helm,
        "operator.nodeSelector.tier=cloud",
        "kb.nodeSelector.disk=ssd",
        "lc.nodeSelector.sedna=on",
        "kb.tolerations[0].key=dedicated",
        "kb.tolerations[0].operator=Exists",
    )
    assert one(docs, "Deployment", "sedna-operator")["spec"]["template"]["spec"]["nodeSelector"] == {
        "tier": "cloud"
    }
    kb = one(docs, "Deployment", "sedna-kb")["spec"]["template"]["spec"]
    assert kb["nodeSelector"] == {"disk": "ssd"}
    assert kb["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert one(docs, "DaemonSet", "sedna-lc")["spec"]["template"]["spec"]["nodeSelector"] == {"sedna": "on"}


def test_log_level_reaches_every_component(helm: str | None) -> None:
    docs = render(helm, "logLevel=debug")
    for kind, name in [
        ("Deployment", "sedna-operator"),
        ("DaemonSet", "sedna-lc"),
        ("Deployment", "sedna-kb"),
    ]:
        c = container(one(docs, kind, name))
        assert "--log-level=debug" in c["args"]
        assert env_of(c)["SEDNA_LOG_LEVEL"]["value"] == "debug"


def test_rbac_and_service_accounts_can_be_turned_off(helm: str | None) -> None:
    docs = render(
        helm,
        "operator.rbac.create=false",
        "lc.rbac.create=false",
        "operator.serviceAccount.create=false",
        "operator.serviceAccount.name=ops",
    )
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    assert ("ServiceAccount", "sedna-operator") not in {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert (
        one(docs, "Deployment", "sedna-operator")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"
    )


def _secret_env(c: dict[str, Any]) -> dict[str, Any] | None:
    entry = env_of(c).get("SEDNA_LC_SECRET")
    return entry["valueFrom"]["secretKeyRef"] if entry else None


def test_report_auth_secret_is_shared_by_operator_and_lc(helm: str | None) -> None:
    import base64

    docs = default_docs(helm)
    secret = one(docs, "Secret", "sedna-lc-report-auth")
    key = base64.b64decode(secret["data"]["lc-secret"]).decode()
    assert len(key) == 48 and key.isalnum()
    ref = {"name": "sedna-lc-report-auth", "key": "lc-secret"}
    assert _secret_env(container(one(docs, "Deployment", "sedna-operator"))) == ref
    lc = container(one(docs, "DaemonSet", "sedna-lc"))
    assert _secret_env(lc) == ref
    assert env_of(lc)["SEDNA_LC_JOB_POLL_SECONDS"]["value"] == "10"
    # The kubelet resolves the secretKeyRef: the LC never lists Secrets (it gets only the named
    # S3 credential Secrets of s3 datasets and outputDirs).
    assert not _grants(_rules(docs, "sedna-lc"), "", "secrets", "list")


def test_report_auth_value_existing_secret_and_off(helm: str | None) -> None:
    import base64

    docs = render(helm, "lc.reportAuth.secret=s3cr3t")
    secret = one(docs, "Secret", "sedna-lc-report-auth")
    assert base64.b64decode(secret["data"]["lc-secret"]).decode() == "s3cr3t"
    docs = render(helm, "lc.reportAuth.existingSecret=mine", "lc.reportAuth.secretKey=k")
    assert not by_kind(docs, "Secret") or all(
        d["metadata"]["name"] != "sedna-lc-report-auth" for d in by_kind(docs, "Secret")
    )
    ref = {"name": "mine", "key": "k"}
    assert _secret_env(container(one(docs, "Deployment", "sedna-operator"))) == ref
    assert _secret_env(container(one(docs, "DaemonSet", "sedna-lc"))) == ref
    docs = render(helm, "lc.reportAuth.enabled=false")
    assert all(d["metadata"]["name"] != "sedna-lc-report-auth" for d in by_kind(docs, "Secret"))
    assert _secret_env(container(one(docs, "Deployment", "sedna-operator"))) is None
    assert _secret_env(container(one(docs, "DaemonSet", "sedna-lc"))) is None


@pytest.mark.parametrize(
    "bad",
    [
        "lc.port=notaport",
        "logLevel=loud",
        "operator.typo=1",
        "kb.persistence.accessModes={Sometimes}",
        "watchNamespaces={Bad_NS}",
        "lc.reportAuth.secretKey=",
        "lc.jobPollSeconds=0",
    ],
)
def test_schema_rejects_bad_values(helm: str | None, bad: str) -> None:
    proc = run_helm(helm, "template", RELEASE, str(CHART), "--set", bad, check=False)
    assert proc.returncode != 0, f"--set {bad} was accepted"


def test_release_name_prefixes_objects(helm: str | None) -> None:
    out = run_helm(helm, "template", "prod", str(CHART), "--namespace", "ml").stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    names = {d["metadata"]["name"] for d in docs}
    assert {"prod-sedna-operator", "prod-sedna-lc", "prod-sedna-kb", "kb"} <= names
    op = one(docs, "Deployment", "prod-sedna-operator")
    assert env_of(container(op))["SEDNA_KB_SERVER"]["value"] == "http://kb.ml:9020"


def test_crds_dir_holds_only_sedna_crds(helm: str | None) -> None:
    crd_docs = by_kind(render(helm, include_crds=True), "CustomResourceDefinition")
    files = list((CHART / "crds").glob("*.y*ml")) if (CHART / "crds").is_dir() else []
    if not files:
        assert not crd_docs
        return
    groups = {d["spec"]["group"] for d in crd_docs}
    assert groups <= {"sedna.io", "kopf.dev"}


def test_notes_mention_kubectl_get_sedna(helm: str | None) -> None:
    out = run_helm(helm, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client").stdout
    assert "kubectl get sedna" in out


# --------------------------------------------------------------------------- docs


# Values that are Kubernetes objects passed through as a whole are documented as one row.
OPAQUE_VALUES = {"resources", "securityContext", "podSecurityContext", "updateStrategy", "affinity"}


def _leaf_keys(values: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(values, dict) and values and prefix.rsplit(".", 1)[-1] not in OPAQUE_VALUES:
        for k, v in values.items():
            yield from _leaf_keys(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix


def test_every_value_is_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    doc = (REPO / "docs" / "install.md").read_text()
    missing = [k for k in _leaf_keys(values) if f"`{k}`" not in doc]
    assert not missing, f"values missing from docs/install.md: {missing}"


# --------------------------------------------------------------------------- install script


def test_install_script_is_idempotent(tmp_path: Path) -> None:
    for tool in ("helm", "kubectl"):
        f = tmp_path / tool
        f.write_text("#!/bin/sh\nexit 0\n")
        f.chmod(0o755)
    env = {**os.environ, "SEDNA_TOOLS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path)
    assert proc.stderr == ""  # returned at once: no download attempted
