"""Where the real-node cluster keeps everything, and what its nodes are (pure data, no I/O).

One directory holds the cluster's state (PKI, tokens, kubeconfigs, etcd, logs, pid files and
each node's containerd and kubelet); it is removed by ``down``. Built binaries and images live
in the cache (``~/.cache/sedna``) and survive it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "K8S_VERSION",
    "SERVICE_CIDR",
    "CLUSTER_CIDR",
    "KUBERNETES_SERVICE_IP",
    "DNS_SERVICE_IP",
    "CLUSTER_DOMAIN",
    "API_PORT",
    "EDGE_ROLE",
    "PAUSE_IMAGE",
    "COREDNS_IMAGE",
    "PRIVATE_DIRS",
    "NodeSpec",
    "Layout",
    "cache_dir",
    "bin_dir",
]

K8S_VERSION = os.environ.get("SEDNA_K8S_VERSION", "1.34.4")
SERVICE_CIDR = "10.96.0.0/16"
CLUSTER_CIDR = "10.244.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
API_PORT = int(os.environ.get("SEDNA_NODE_API_PORT", "6443"))
EDGE_ROLE = "node-role.kubernetes.io/edge"
# Built here (e2e/node/images.py); the node's containerd uses PAUSE_IMAGE as its sandbox image.
PAUSE_IMAGE = "sedna-local/pause:3.10"
COREDNS_IMAGE = "sedna-local/coredns:1.15.0"
# Directories a node in its own namespaces does not share with the host (see Layout.private_dir).
PRIVATE_DIRS = ("/var/lib/sedna", "/var/log/pods", "/var/log/containers")


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sedna"


def bin_dir() -> Path:
    """The Kubernetes binaries of scripts/build-test-apiserver.sh --node."""
    return Path(os.environ.get("SEDNA_TEST_BIN_DIR", cache_dir() / f"k8s-v{K8S_VERSION}"))


@dataclass(frozen=True)
class NodeSpec:
    """One kubelet node. ``netns`` None: the host's network; else its own namespace, linked to
    the host by a veth pair (``host_veth`` with ``link_host_ip`` <-> ``eth0`` with ``ip``)."""

    name: str
    pod_cidr: str
    gateway: str
    netns: str | None = None
    ip: str = ""
    host_veth: str = ""
    link_host_ip: str = ""
    link_prefix: int = 24
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[str, ...] = ()

    @property
    def is_host(self) -> bool:
        return self.netns is None


@dataclass(frozen=True)
class Layout:
    """Paths of one cluster. ``root``: state (default /var/lib/sedna-node); ``run``: sockets."""

    root: Path
    run: Path
    host_ip: str
    nodes: tuple[NodeSpec, ...]

    @classmethod
    def default(cls, host_ip: str, edge: bool = True) -> Layout:
        nodes = [NodeSpec(name="cloud-node", pod_cidr="10.244.0.0/24", gateway="10.244.0.1", ip=host_ip)]
        if edge:
            nodes.append(
                NodeSpec(
                    name="edge-node",
                    pod_cidr="10.244.1.0/24",
                    gateway="10.244.1.1",
                    netns="sedna-edge",
                    ip="172.31.0.2",
                    host_veth="sedna-edge0",
                    link_host_ip="172.31.0.1",
                    labels={EDGE_ROLE: ""},
                    taints=(f"{EDGE_ROLE}=:NoSchedule",),
                )
            )
        return cls(
            root=Path(os.environ.get("SEDNA_NODE_STATE", "/var/lib/sedna-node")),
            run=Path(os.environ.get("SEDNA_NODE_RUN", "/run/sedna-node")),
            host_ip=host_ip,
            nodes=tuple(nodes),
        )

    # --- cluster-wide files
    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens.csv"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    def kubeconfig(self, user: str) -> Path:
        return self.root / "kubeconfigs" / f"{user}.kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://{self.host_ip}:{API_PORT}"

    # --- per node
    def node_dir(self, node: NodeSpec) -> Path:
        return self.root / "nodes" / node.name

    def containerd_socket(self, node: NodeSpec) -> Path:
        return self.run / node.name / "containerd.sock"

    def kubelet_root(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "kubelet"

    def cni_conf_dir(self, node: NodeSpec) -> Path:
        return self.node_dir(node) / "cni"

    def private_dir(self, node: NodeSpec, path: str) -> Path:
        """The host directory that ``node`` (in its own namespaces) sees at ``path``, one of
        :data:`PRIVATE_DIRS`: each node of a real cluster has a disk of its own, and two
        kubelets sharing /var/log/pods would delete each other's pod logs."""
        return self.node_dir(node) / "private" / path.strip("/").replace("/", "-")

    def host_path(self, node: NodeSpec, path: str) -> Path:
        """Where ``path`` of ``node``'s filesystem is on this host."""
        if not node.is_host:
            for private in PRIVATE_DIRS:
                if path == private or path.startswith(private + "/"):
                    return self.private_dir(node, private) / path[len(private) :].lstrip("/")
        return Path(path)

    def node(self, name: str) -> NodeSpec:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in this cluster (nodes: {', '.join(n.name for n in self.nodes)})")
