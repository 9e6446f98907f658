"""The real-node tier's view of a cluster: kubectl/helm against it, files put on its nodes, a
container killed from its node. Two ways to get one, one set of checks (tests/node):

- ``SEDNA_E2E_CLUSTER`` unset or ``node``: the cluster of ``e2e/node`` on this machine (brought up
  if needed; images built with Docker and imported into the nodes' containerd);
- ``SEDNA_E2E_CLUSTER=kind``: an existing kind cluster (``e2e/kind/run.sh`` makes it, with nodes
  named ``cloud-node`` and ``edge-node`` and the images loaded), reached through ``$KUBECONFIG``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.apiserver import find_tool

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
RELATIVE_ROOT = "/var/lib/sedna/workspace"
CHART_NAMESPACE = "sedna"
# Example directories copied to the nodes: what the manifests name with relative paths.
EXAMPLE_DIRS = ("data", "model")


class NodeAccess:
    """How files and processes on a node are reached (differs between the two clusters)."""

    nodes: tuple[str, ...] = ()

    def put_dir(self, node: str, src: Path, dest: str) -> None:
        raise NotImplementedError

    def read_file(self, node: str, path: str) -> bytes:
        raise NotImplementedError

    def remove(self, node: str, path: str) -> None:
        raise NotImplementedError

    def kill_container(self, node: str, container_id: str) -> None:
        """SIGKILL the container's processes from the node (a crash, not a graceful stop)."""
        raise NotImplementedError

    def set_link(self, node: str, up: bool) -> None:
        """Cut or restore the node's network link to the rest of the cluster."""
        raise NotImplementedError

    def set_quality(self, node: str, loss_percent: float = 0.0, delay_ms: float = 0.0) -> str:
        """Make the node's link lossy and/or slow (zeros restore it); returns how it was done."""
        raise NotImplementedError


class LocalNodes(NodeAccess):
    """The e2e/node cluster: every node's filesystem is on this host (edge-node's private
    directories remapped), its containerd reachable by socket."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self.nodes = tuple(n.name for n in cluster.layout.nodes)

    def _host(self, node: str, path: str) -> Path:
        return Path(self.cluster.layout.host_path(self.cluster.layout.node(node), path))

    def put_dir(self, node: str, src: Path, dest: str) -> None:
        target = self._host(node, dest)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, target, dirs_exist_ok=True)

    def read_file(self, node: str, path: str) -> bytes:
        return self._host(node, path).read_bytes()

    def remove(self, node: str, path: str) -> None:
        shutil.rmtree(self._host(node, path), ignore_errors=True)

    def set_link(self, node: str, up: bool) -> None:
        from e2e.node import network

        network.set_link(self.cluster.layout.node(node), up)

    def set_quality(self, node: str, loss_percent: float = 0.0, delay_ms: float = 0.0) -> str:
        return self.cluster.set_quality(self.cluster.layout.node(node), loss_percent, delay_ms)

    def kill_container(self, node: str, container_id: str) -> None:
        proc = self.cluster.ctr(self.cluster.layout.node(node), "tasks", "kill", "--all", "--signal", "SIGKILL", container_id)
        if proc.returncode != 0:
            raise AssertionError(f"killing {container_id} on {node} failed: {proc.stderr}")


class KindNodes(NodeAccess):
    """kind's nodes are containers: files go in with ``docker cp``, ``ctr`` runs inside them."""

    def __init__(self, nodes: dict[str, str]) -> None:
        self.containers = nodes  # node name -> docker container
        self.nodes = tuple(nodes)
        self._ips: dict[str, str] = {}

    def _docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=300)

    def put_dir(self, node: str, src: Path, dest: str) -> None:
        self._docker("exec", self.containers[node], "mkdir", "-p", dest)
        self._docker("cp", f"{src}/.", f"{self.containers[node]}:{dest}")

    def read_file(self, node: str, path: str) -> bytes:
        return subprocess.run(
            ["docker", "exec", self.containers[node], "cat", path], capture_output=True, check=True, timeout=60
        ).stdout

    def remove(self, node: str, path: str) -> None:
        self._docker("exec", self.containers[node], "rm", "-rf", path)

    def set_link(self, node: str, up: bool) -> None:
        # The node container leaves (and rejoins, at its address) kind's Docker network.
        container = self.containers[node]
        if not up:
            self._ips[node] = self._docker(
                "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
            ).stdout.strip()
            self._docker("network", "disconnect", "kind", container)
        else:
            self._docker("network", "connect", "--ip", self._ips[node], "kind", container)

    def set_quality(self, node: str, loss_percent: float = 0.0, delay_ms: float = 0.0) -> str:
        container = self.containers[node]
        subprocess.run(["docker", "exec", container, "tc", "qdisc", "del", "dev", "eth0", "root"], capture_output=True)
        if not loss_percent and not delay_ms:
            return "restored"
        netem = [*(["delay", f"{delay_ms:g}ms"] if delay_ms else []), *(["loss", f"{loss_percent:g}%"] if loss_percent else [])]
        self._docker("exec", container, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", *netem)
        return "netem " + " ".join(netem)

    def kill_container(self, node: str, container_id: str) -> None:
        self._docker("exec", self.containers[node], "ctr", "-n", "k8s.io", "tasks", "kill", "--all", "--signal", "SIGKILL", container_id)


@dataclass
class E2E:
    """kubectl and helm against the cluster, plus the steps a user of the examples takes."""

    kubeconfig: Path
    nodes: NodeAccess
    work: Path
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        for kind in ("CACHE", "CONFIG", "DATA"):
            env[f"HELM_{kind}_HOME"] = str(self.work / f"helm-{kind.lower()}")
        return env

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [find_tool("kubectl"), *args], input=input, capture_output=True, text=True, env=self.env(), timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def jsonpath(self, ns: str, what: str, path: str) -> str:
        return self.kubectl("-n", ns, "get", what, "-o", f"jsonpath={path}").stdout

    def helm(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([find_tool("helm"), *args], capture_output=True, text=True, env=self.env(), timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def wait(self, what: str, check: Callable[[], Any], timeout: float, interval: float = 2.0, dump_ns: str | None = None) -> Any:
        """Poll ``check`` until it returns a truthy value; on timeout fail with the namespace's
        objects, events and the operator's log tail."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except AssertionError as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})\n{self.dump(dump_ns)}")

    def dump(self, ns: str | None) -> str:
        parts = []
        if ns:
            for args in (("get", "sedna,pods,svc", "-o", "wide"), ("get", "events", "--sort-by=.lastTimestamp")):
                parts.append(self.kubectl("-n", ns, *args, check=False).stdout[-4000:])
        parts.append(self.kubectl("-n", CHART_NAMESPACE, "logs", "deploy/sedna-operator", "--tail=60", check=False).stdout)
        return "\n".join(parts)

    # ------------------------------------------------------------------ the user's steps
    def install_chart(self, values: dict[str, Any]) -> float:
        """``helm upgrade --install sedna charts/sedna --wait``; returns the seconds it took."""
        values_file = self.work / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        start = time.monotonic()
        self.helm(
            "upgrade", "--install", "sedna", str(REPO / "charts" / "sedna"), "--namespace", CHART_NAMESPACE,
            "--create-namespace", "--values", str(values_file), "--wait", "--timeout", "300s",
        )  # fmt: skip
        return time.monotonic() - start

    def stage_example(self, example: str, ns: str) -> None:
        """What the example's README asks of a user: its data and models on the nodes, under the
        namespace's directory for relative paths; a fresh namespace."""
        self.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", timeout=180)
        for node in self.nodes.nodes:
            target = f"{RELATIVE_ROOT}/{ns}"
            self.nodes.remove(node, target)
            for sub in EXAMPLE_DIRS:
                if (EXAMPLES / example / sub).is_dir():
                    self.nodes.put_dir(node, EXAMPLES / example / sub, f"{target}/{sub}")
        self.kubectl("create", "namespace", ns)

    def apply_example(self, example: str, ns: str, edit: Callable[[list[dict[str, Any]]], None] | None = None) -> float:
        """``kubectl apply -f examples/<example>/`` (or the manifests after ``edit``); returns
        the time of the apply."""
        if edit is None:
            self.kubectl("-n", ns, "apply", "-f", str(EXAMPLES / example))
        else:
            docs = [d for f in sorted((EXAMPLES / example).glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
            edit(docs)
            self.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all(docs))
        return time.monotonic()

    def wait_example_done(self, example: str, ns: str, timeout: float) -> None:
        """Wait for an example's end state, as a user watches for it (``kubectl wait`` where a
        status field says it; the worker that ends the example otherwise)."""
        wait_for = {
            "federated_learning": ("fl/digits-fedavg", "{.status.phase}=Succeeded"),
            "incremental_learning": ("il/digits-il", "{.status.conditions[-1:].reason}=HotUpdated"),
        }
        if example in wait_for:
            what, condition = wait_for[example]
            self.kubectl("-n", ns, "wait", what, f"--for=jsonpath={condition}", f"--timeout={timeout:.0f}s", timeout=timeout + 30)
            return
        # JI's edge worker ends with its stream; LL's inference worker ends with its samples.
        kind, role = {"joint_inference": ("jointinferenceservice", "edge"), "lifelong_learning": ("lifelonglearningjob", "inference")}[example]

        def ended() -> bool:
            pods = self.json("-n", ns, "get", "pods", "-l", f"{kind}.sedna.io/worker-type={role}")["items"]
            return bool(pods) and pods[0]["status"]["phase"] == "Succeeded"

        self.wait(f"the {role} worker of {example} to end", ended, timeout, dump_ns=ns)

    def pod_container_id(self, ns: str, pod: str, container: str | None = None) -> tuple[str, str]:
        """(node, containerd id) of a running container of ``pod``."""
        obj = self.json("-n", ns, "get", "pod", pod)
        for status in obj["status"].get("containerStatuses") or []:
            if container is None or status["name"] == container:
                cid = str(status.get("containerID") or "")
                if cid.startswith("containerd://"):
                    return obj["spec"]["nodeName"], cid.removeprefix("containerd://")
        raise AssertionError(f"{ns}/{pod} has no running container {container or ''}")


# ---------------------------------------------------------------------- manifest edits
# Fault and partition tests run the examples' manifests with a knob turned (more rounds, a
# slower stream); these keep the edits short and the same everywhere.
def manifest(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The document of ``kind`` (and ``name``) among an example's manifests."""
    return next(d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name))


def set_env(template: dict[str, Any], name: str, value: str) -> None:
    """Set env ``name`` of a pod template's first container (replaced if present)."""
    env = template["spec"]["containers"][0].setdefault("env", [])
    env[:] = [e for e in env if e["name"] != name] + [{"name": name, "value": value}]


def fl_rounds(docs: list[dict[str, Any]], rounds: int, epochs: int) -> dict[str, Any]:
    """The FL example with ``rounds`` rounds of ``epochs`` local epochs; returns the job."""
    job = manifest(docs, "FederatedLearningJob")
    set_env(job["spec"]["aggregationWorker"]["template"], "exit_round", str(rounds))
    for worker in job["spec"]["trainingWorkers"]:
        set_env(worker["template"], "epochs", str(epochs))
    return job


def _local_cluster() -> tuple[Any, bool]:
    """The e2e/node cluster, brought up if it is not (returns it and whether we started it)."""
    from e2e.node.cluster import Cluster

    cluster = Cluster.default()
    already = cluster.daemons.running("kube-apiserver")
    cluster.up()
    return cluster, not already


def _kind_nodes() -> dict[str, str]:
    """kind node name -> its container, matched by InternalIP (node names may be overridden)."""
    kubeconfig = os.environ.get("KUBECONFIG", "")
    out = subprocess.run(
        [find_tool("kubectl"), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    by_ip = {
        next(a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"): n["metadata"]["name"]
        for n in json.loads(out.stdout)["items"]
    }
    cluster = os.environ.get("SEDNA_KIND_CLUSTER", "sedna-e2e")
    names = subprocess.run(
        ["docker", "ps", "--filter", f"label=io.x-k8s.kind.cluster={cluster}", "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    out_map = {}
    for name in names:
        ip = subprocess.run(
            ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if ip in by_ip:
            out_map[by_ip[ip]] = name
    return out_map


@dataclass
class Session:
    e2e: E2E
    teardown: Callable[[], None]
    # Changes whenever an image is rebuilt under the same tag: as a pod annotation of the
    # chart's components it rolls them onto the new images.
    images_digest: str = ""


def open_session() -> Session:
    """Get the cluster the tier runs on, with the product images on its nodes."""
    work = Path(tempfile.mkdtemp(prefix="sedna-e2e-"))
    timings: dict[str, float] = {}
    mode = os.environ.get("SEDNA_E2E_CLUSTER", "node")
    if mode == "kind":
        kubeconfig = Path(os.environ["KUBECONFIG"])
        return Session(E2E(kubeconfig, KindNodes(_kind_nodes()), work, timings), lambda: None)
    if mode != "node":
        raise RuntimeError(f"SEDNA_E2E_CLUSTER={mode!r}: expected 'node' (default) or 'kind'")
    from e2e.node import images

    start = time.monotonic()
    cluster, started = _local_cluster()
    timings["cluster up"] = time.monotonic() - start
    start = time.monotonic()
    built = images.build_product_images()
    timings["images built"] = time.monotonic() - start
    start = time.monotonic()
    archive = images.save(built, "sedna-images")
    cluster.load_images(archive)
    timings["images loaded"] = time.monotonic() - start

    def teardown() -> None:
        if started and os.environ.get("SEDNA_E2E_KEEP") != "1":
            cluster.down()

    digest = archive.stem.rsplit("-", 1)[-1]
    return Session(E2E(cluster.layout.admin_kubeconfig, LocalNodes(cluster), work, timings), teardown, digest)
