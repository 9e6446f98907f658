"""Bring the real-node cluster up and down.

``up`` is idempotent: every component that already runs is left alone, every file that exists
is kept, so it doubles as "make sure the cluster is up". The cluster:

- etcd, kube-apiserver (token + client-certificate auth, Node,RBAC authorization,
  NodeRestriction), kube-controller-manager (all default controllers) and kube-scheduler on
  the host;
- ``cloud-node``: containerd + kubelet + kube-proxy in the host's network;
- ``edge-node`` (unless ``edge=False``): its own containerd + kubelet + kube-proxy inside the
  network namespace ``sedna-edge``, linked to the host by a veth pair, with a private
  ``/var/lib/sedna`` (its "own disk"), labelled and tainted ``node-role.kubernetes.io/edge``;
- CoreDNS as the ``kube-dns`` Service (10.96.0.10) and static hostPath PersistentVolumes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import configs, network, pki
from .layout import (
    API_PORT,
    CLUSTER_CIDR,
    CLUSTER_DOMAIN,
    KUBERNETES_SERVICE_IP,
    PRIVATE_DIRS,
    SERVICE_CIDR,
    Layout,
    NodeSpec,
    bin_dir,
    cache_dir,
)
from .processes import Daemons, wait_for

__all__ = ["Cluster", "REQUIRED_COMMANDS", "preflight"]

log = logging.getLogger("sedna.e2e.node")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ETCD_PORT = 12379
ETCD_PEER_PORT = 12380
REQUIRED_COMMANDS = ("containerd", "runc", "ctr", "iptables", "ip", "nsenter", "unshare", "openssl", "mount")
K8S_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")


def preflight() -> list[str]:
    """What is missing for ``up`` on this machine (empty when nothing is)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the node cluster runs kubelets and containerd: run as root")
    for cmd in REQUIRED_COMMANDS:
        if shutil.which(cmd) is None:
            problems.append(f"`{cmd}` not found (apt-get install containerd runc iptables iproute2 util-linux openssl)")
    if not Path("/usr/lib/cni/bridge").exists():
        problems.append("CNI plugins not found in /usr/lib/cni (apt-get install containernetworking-plugins)")
    missing = [b for b in K8S_BINARIES if not (bin_dir() / b).exists()]
    if missing:
        problems.append(f"{', '.join(missing)} not built in {bin_dir()}: run scripts/build-test-apiserver.sh --node")
    return problems


def _find_kubectl() -> str:
    cached = cache_dir() / "bin" / "kubectl"
    found = str(cached) if cached.exists() else shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: run scripts/install-kube-tools.sh")
    return found


@dataclass
class Cluster:
    """One cluster on this machine, described by its :class:`Layout`."""

    layout: Layout

    @classmethod
    def default(cls, edge: bool = True) -> Cluster:
        return cls(Layout.default(network.host_ip(), edge=edge))

    @property
    def daemons(self) -> Daemons:
        return Daemons(self.layout.pids, self.layout.logs)

    # ----------------------------------------------------------------- helpers
    def _tokens(self) -> dict[str, str]:
        path = self.layout.root / "tokens.json"
        tokens: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        wanted = [*configs.SYSTEM_USERS, *(f"node:{n.name}" for n in self.layout.nodes)]
        if any(k not in tokens for k in wanted):
            for key in wanted:
                tokens.setdefault(key, secrets.token_hex(16))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(tokens, indent=2))
            path.chmod(0o600)
        return tokens

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [_find_kubectl(), "--kubeconfig", str(self.layout.admin_kubeconfig), *args],
            input=input, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def api(self, path: str) -> Any:
        """GET ``path`` as admin (CA-verified)."""
        ctx = ssl.create_default_context(cafile=str(self.layout.pki / "ca.crt"))
        req = urllib.request.Request(self.layout.api_url + path)
        req.add_header("Authorization", f"Bearer {self._tokens()['admin']}")
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def node_prefix(self, node: NodeSpec) -> list[str]:
        """Command prefix that runs a process in ``node``'s namespaces (none for the host node)."""
        if node.is_host:
            return []
        holder = self.daemons.pid(f"{node.name}-namespaces")
        if holder is None:
            raise RuntimeError(f"the namespace holder of {node.name} is not running; run `up` again")
        return ["nsenter", f"--target={holder}", "--net", "--mount", "--"]

    # ----------------------------------------------------------------- up
    def up(self, timeout: float = 180) -> None:
        problems = preflight()
        if problems:
            raise RuntimeError("cannot bring the node cluster up:\n  - " + "\n  - ".join(problems))
        started = time.monotonic()
        lay = self.layout
        for d in (lay.root, lay.logs, lay.pids, lay.run, lay.root / "kubeconfigs"):
            d.mkdir(parents=True, exist_ok=True)
        tokens = self._tokens()
        ips = [lay.host_ip, *(n.link_host_ip for n in lay.nodes if n.link_host_ip)]
        pki.ensure_pki(lay.pki, ips, KUBERNETES_SERVICE_IP, CLUSTER_DOMAIN)
        _write_if_changed(lay.tokens, configs.tokens_csv(tokens, lay.nodes))
        lay.tokens.chmod(0o600)
        ca = lay.pki / "ca.crt"
        for key in configs.SYSTEM_USERS:
            _write_if_changed(lay.kubeconfig(key), configs.kubeconfig(lay.api_url, ca, tokens[key], key))
        for node in lay.nodes:
            _write_if_changed(lay.kubeconfig(node.name), configs.kubeconfig(lay.api_url, ca, tokens[f"node:{node.name}"], node.name))
        shutil.copyfile(lay.kubeconfig("admin"), lay.admin_kubeconfig)
        lay.admin_kubeconfig.chmod(0o600)

        network.setup_host(lay)
        self._control_plane(timeout)
        for node in lay.nodes:
            self._node(node, timeout)
        self._addons(timeout)
        log.info("cluster up in %.0fs: %s", time.monotonic() - started, ", ".join(n.name for n in lay.nodes))

    def _control_plane(self, timeout: float) -> None:
        lay, d, bins = self.layout, self.daemons, bin_dir()
        d.start("etcd", [
            str(bins / "etcd"), "--name", "sedna-node", "--data-dir", str(lay.etcd_data),
            "--listen-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
            "--advertise-client-urls", f"http://127.0.0.1:{ETCD_PORT}",
            "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER_PORT}",
            "--initial-cluster", f"sedna-node=http://127.0.0.1:{ETCD_PEER_PORT}",
            "--listen-metrics-urls", "http://127.0.0.1:12381",
            "--log-level", "warn", "--unsafe-no-fsync",
        ])  # fmt: skip
        p = lay.pki
        d.start("kube-apiserver", [
            str(bins / "kube-apiserver"),
            "--etcd-servers", f"http://127.0.0.1:{ETCD_PORT}",
            "--bind-address", "0.0.0.0", "--secure-port", str(API_PORT), "--advertise-address", lay.host_ip,
            "--tls-cert-file", str(p / "apiserver.crt"), "--tls-private-key-file", str(p / "apiserver.key"),
            "--client-ca-file", str(p / "ca.crt"),
            "--token-auth-file", str(lay.tokens),
            "--authorization-mode", "Node,RBAC",
            "--enable-admission-plugins", "NodeRestriction",
            "--service-account-issuer", f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
            "--service-account-key-file", str(p / "sa.pub"),
            "--service-account-signing-key-file", str(p / "sa.key"),
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--allow-privileged=true",
            "--kubelet-client-certificate", str(p / "apiserver-kubelet-client.crt"),
            "--kubelet-client-key", str(p / "apiserver-kubelet-client.key"),
            # kubectl logs/exec reach the kubelet at the node's InternalIP (node names do not resolve).
            "--kubelet-preferred-address-types", "InternalIP",
            "--profiling=false", "--v", "1",
        ])  # fmt: skip

        def ready() -> bool:
            ctx = ssl.create_default_context(cafile=str(p / "ca.crt"))
            req = urllib.request.Request(f"{lay.api_url}/readyz")
            req.add_header("Authorization", f"Bearer {self._tokens()['admin']}")
            with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
                return resp.status == 200

        wait_for(ready, "kube-apiserver /readyz", timeout, d.log("kube-apiserver"))
        d.start("kube-controller-manager", [
            str(bins / "kube-controller-manager"),
            "--kubeconfig", str(lay.kubeconfig("controller-manager")),
            "--bind-address", "127.0.0.1",
            "--root-ca-file", str(p / "ca.crt"),
            "--service-account-private-key-file", str(p / "sa.key"),
            "--use-service-account-credentials=true",
            "--cluster-cidr", CLUSTER_CIDR, "--service-cluster-ip-range", SERVICE_CIDR,
            "--leader-elect=false", "--profiling=false", "--v", "1",
        ])  # fmt: skip
        d.start("kube-scheduler", [
            str(bins / "kube-scheduler"),
            "--kubeconfig", str(lay.kubeconfig("scheduler")),
            "--bind-address", "127.0.0.1", "--leader-elect=false", "--profiling=false", "--v", "1",
        ])  # fmt: skip

        def default_sa() -> bool:
            self.api("/api/v1/namespaces/default/serviceaccounts/default")
            return True

        wait_for(default_sa, "the default ServiceAccount (kube-controller-manager)", timeout, d.log("kube-controller-manager"))

    def _namespaces(self, node: NodeSpec) -> None:
        """The edge node's network namespace and link, and a mount namespace in which the
        :data:`PRIVATE_DIRS` are directories of its own; a holder process keeps both alive.
        The mount namespace is a slave of the host's, as a node's root is (kubelet's
        HostToContainer mounts need that)."""
        network.setup_node_link(self.layout, node)
        name = f"{node.name}-namespaces"
        if self.daemons.running(name):
            return
        holder = self.daemons.start(
            name,
            ["unshare", "--mount", "--propagation", "slave", "sleep", "infinity"],
            prefix=network.in_netns(node.netns),
            exe="sleep",
        )
        wait_for(lambda: Path(f"/proc/{holder}/comm").read_text().strip() == "sleep", name, 10)
        for path in PRIVATE_DIRS:
            private = self.layout.private_dir(node, path)
            private.mkdir(parents=True, exist_ok=True)
            Path(path).mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["nsenter", f"--target={holder}", "--mount", "--", "mount", "--bind", str(private), path],
                check=True, capture_output=True,
            )  # fmt: skip

    def _node(self, node: NodeSpec, timeout: float) -> None:
        lay, d, bins = self.layout, self.daemons, bin_dir()
        ndir = lay.node_dir(node)
        for sub in ("containerd", "kubelet", "cni", "ipam"):
            (ndir / sub).mkdir(parents=True, exist_ok=True)
        (lay.run / node.name).mkdir(parents=True, exist_ok=True)
        if not node.is_host:
            self._namespaces(node)
        prefix = self.node_prefix(node)
        cfg = ndir / "containerd" / "config.toml"
        _write_if_changed(cfg, configs.containerd_config(lay, node, HERE / "runc-wrapper"))
        d.start(f"{node.name}-containerd", ["containerd", "--config", str(cfg)], prefix=prefix)
        sock = lay.containerd_socket(node)
        wait_for(lambda: self.ctr(node, "version").returncode == 0, f"containerd of {node.name} ({sock})", 30,
                 d.log(f"{node.name}-containerd"))
        self.import_images(node, infra_images_tar())
        _write_if_changed(lay.cni_conf_dir(node) / "10-sedna.conflist", configs.cni_conflist(lay, node))
        kcfg = ndir / "kubelet-config.yaml"
        _write_if_changed(kcfg, configs.kubelet_config(lay, node))
        d.start(f"{node.name}-kubelet", [
            str(bins / "kubelet"), "--config", str(kcfg),
            "--kubeconfig", str(lay.kubeconfig(node.name)),
            "--hostname-override", node.name, "--node-ip", node.ip,
            "--root-dir", str(lay.kubelet_root(node)), "--cert-dir", str(ndir / "kubelet-pki"),
            "--v", "1",
        ], prefix=prefix)  # fmt: skip
        pcfg = ndir / "kube-proxy.yaml"
        _write_if_changed(pcfg, configs.kube_proxy_config(lay, node))
        d.start(f"{node.name}-kube-proxy", [str(bins / "kube-proxy"), "--config", str(pcfg), "--v", "1"], prefix=prefix)

        def node_ready() -> bool:
            obj = self.api(f"/api/v1/nodes/{node.name}")
            return any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions", []))

        wait_for(node_ready, f"node {node.name} Ready", timeout, d.log(f"{node.name}-kubelet"))
        if node.labels:
            self.kubectl("label", "node", node.name, "--overwrite", *(f"{k}={v}" for k, v in node.labels.items()))

    def _addons(self, timeout: float) -> None:
        docs = [*configs.coredns_manifests(), *configs.local_volumes(self.layout, self.layout.nodes[0])]
        for doc in docs:
            if doc["kind"] == "PersistentVolume":
                Path(doc["spec"]["hostPath"]["path"]).mkdir(parents=True, exist_ok=True)
                Path(doc["spec"]["hostPath"]["path"]).chmod(0o777)
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
        self.kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", f"--timeout={int(timeout)}s",
                     timeout=timeout + 10)

    # ----------------------------------------------------------------- images
    def ctr(self, node: NodeSpec, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.layout.containerd_socket(node)), "--namespace", "k8s.io", *args],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def import_images(self, node: NodeSpec, archive: Path) -> None:
        """Import a ``docker save`` archive into ``node``'s containerd (skipped when this very
        archive was imported there already)."""
        marker = self.layout.node_dir(node) / "imported" / (archive.name + ".sha")
        stamp = f"{archive.stat().st_size}:{archive.stat().st_mtime_ns}"
        if marker.exists() and marker.read_text() == stamp:
            return
        proc = self.ctr(node, "images", "import", "--all-platforms", str(archive))
        if proc.returncode != 0:
            raise RuntimeError(f"importing {archive} into {node.name} failed: {proc.stderr.strip()}")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(stamp)

    def load_images(self, archive: Path) -> None:
        """Import ``archive`` into every node's containerd, the nodes in parallel."""
        with ThreadPoolExecutor(max_workers=len(self.layout.nodes)) as pool:
            list(pool.map(lambda node: self.import_images(node, archive), self.layout.nodes))

    def set_quality(self, node: NodeSpec, loss_percent: float = 0.0, delay_ms: float = 0.0) -> str:
        """A lossy and/or slow link for ``node`` (zeros restore it): :func:`network.set_quality`."""
        return network.set_quality(node, self.daemons, loss_percent, delay_ms)

    def images(self, node: NodeSpec) -> list[str]:
        out = self.ctr(node, "images", "list", "--quiet").stdout.split()
        return [ref for ref in out if not ref.startswith("sha256:")]

    # ----------------------------------------------------------------- down
    def down(self) -> None:
        """Stop everything, remove the namespaces, links, rules and the state directory."""
        lay, d = self.layout, self.daemons
        for node in lay.nodes:
            d.stop(f"{node.name}-kubelet")
        for node in lay.nodes:
            self._kill_containers(node)
            d.stop(f"{node.name}-kube-proxy")
            self._cleanup_proxy_rules(node)
            d.stop(f"{node.name}-containerd")
        _kill_shims(lay)
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            d.stop(name)
        for node in lay.nodes:
            d.stop(f"{node.name}-namespaces")
        for name in d.names():  # anything left from another layout
            d.stop(name)
        network.teardown(lay)
        _unmount_under(lay.root)
        _unmount_under(lay.run)
        shutil.rmtree(lay.root, ignore_errors=True)
        shutil.rmtree(lay.run, ignore_errors=True)

    def _kill_containers(self, node: NodeSpec) -> None:
        """Kill every container of ``node`` and remove the pod network namespaces the CRI made
        (the kubelet is already stopped, so nothing tears the sandboxes down properly)."""
        if not self.layout.containerd_socket(node).exists():
            return
        netns: set[str] = set()
        for cid in self.ctr(node, "containers", "list", "--quiet", timeout=30).stdout.split():
            info = self.ctr(node, "containers", "info", cid, timeout=30)
            try:
                spaces = json.loads(info.stdout)["Spec"]["linux"]["namespaces"]
            except (ValueError, KeyError, TypeError):
                continue
            netns.update(s["path"] for s in spaces if s.get("type") == "network" and s.get("path"))
        running = self._tasks(node)
        for task in running:
            self.ctr(node, "tasks", "kill", "--all", "--signal", "SIGKILL", task, timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(s == "RUNNING" for s in self._tasks(node).values()):
            time.sleep(0.2)
        for task in self._tasks(node):
            self.ctr(node, "tasks", "delete", "--force", task, timeout=30)
        for path in netns:
            subprocess.run([*self.node_prefix(node), "umount", path], capture_output=True)
            subprocess.run([*self.node_prefix(node), "rm", "-f", path], capture_output=True)

    def _tasks(self, node: NodeSpec) -> dict[str, str]:
        """Container tasks of ``node``'s containerd: id -> status (RUNNING, STOPPED...)."""
        lines = self.ctr(node, "tasks", "list", timeout=30).stdout.splitlines()[1:]
        return {parts[0]: parts[-1] for parts in (line.split() for line in lines) if len(parts) >= 3}

    def _cleanup_proxy_rules(self, node: NodeSpec) -> None:
        if node.netns and not Path(f"/run/netns/{node.netns}").exists():
            return
        subprocess.run(
            [*network.in_netns(node.netns), str(bin_dir() / "kube-proxy"), "--cleanup"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    # ----------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        d = self.daemons
        out: dict[str, Any] = {"apiServer": self.layout.api_url, "kubeconfig": str(self.layout.admin_kubeconfig)}
        out["processes"] = {name: d.pid(name) for name in d.names()}
        try:
            nodes = self.api("/api/v1/nodes")["items"]
            out["nodes"] = {
                n["metadata"]["name"]: next((c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"), "?")
                for n in nodes
            }
        except Exception as exc:  # the API server is down: say so
            out["nodes"] = f"API server unreachable: {exc}"
        return out


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file holds it already (kube-proxy exits when its config file
    changes, so a second ``up`` must not touch it)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def infra_images_tar() -> Path:
    """The archive of the node's own images (pause sandbox, CoreDNS); built by images.py."""
    from .images import build_infra_images

    return build_infra_images()


def _kill_shims(layout: Layout) -> None:
    """containerd-shim processes of our containerds (they outlive containerd by design)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and any(str(layout.run).encode() in a for a in cmd):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _unmount_under(root: Path) -> None:
    """Unmount everything mounted below ``root`` (pod volumes of the host node), deepest first."""
    prefix = str(root).rstrip("/") + "/"
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].replace("\\040", " ")
        if target.startswith(prefix):
            mounts.append(target)
    for target in sorted(set(mounts), key=lambda t: t.count("/"), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
