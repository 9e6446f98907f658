"""The cluster's configuration files, rendered from the layout (pure functions, no I/O).

Values that differ from a stock node are explained where they are set; the VM-specific ones
come from ../../../shared/reference/real-node.md (checked by hand on this kind of machine).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from .layout import (
    CLUSTER_CIDR,
    CLUSTER_DOMAIN,
    COREDNS_IMAGE,
    DNS_SERVICE_IP,
    PAUSE_IMAGE,
    Layout,
    NodeSpec,
)

__all__ = [
    "SYSTEM_USERS",
    "tokens_csv",
    "kubeconfig",
    "containerd_config",
    "cni_conflist",
    "kubelet_config",
    "kube_proxy_config",
    "coredns_manifests",
    "local_volumes",
]

# Identities of the control-plane components (token auth): each gets the bootstrap RBAC role
# a real cluster gives it.
SYSTEM_USERS = {
    "admin": ("admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kube-proxy": ("system:kube-proxy", ""),
}


def tokens_csv(tokens: dict[str, str], nodes: tuple[NodeSpec, ...]) -> str:
    """The API server's --token-auth-file: component users plus one ``system:node:<name>`` per
    kubelet (group ``system:nodes``, so the Node authorizer and NodeRestriction apply)."""
    lines = []
    for key, (user, groups) in SYSTEM_USERS.items():
        lines.append(f'{tokens[key]},{user},{user},"{groups}"' if groups else f"{tokens[key]},{user},{user}")
    for node in nodes:
        user = f"system:node:{node.name}"
        lines.append(f'{tokens["node:" + node.name]},{user},{user},"system:nodes"')
    return "\n".join(lines) + "\n"


def kubeconfig(server: str, ca: Path, token: str, user: str, namespace: str = "default") -> str:
    """A self-contained kubeconfig (the CA embedded) for one token user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "sedna-node",
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode()},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "sedna-node", "context": {"cluster": "sedna-node", "user": user, "namespace": namespace}}],
        "current-context": "sedna-node",
    }
    return yaml.safe_dump(config, sort_keys=False)


def containerd_config(layout: Layout, node: NodeSpec, runtime_wrapper: Path) -> str:
    """containerd 1.6 (config version 2) for one node: its own root, state and socket, so it
    never meets the containerd that Docker runs, and CRI settings for a node with no registry."""
    d = layout.node_dir(node)
    sock = layout.containerd_socket(node)
    return f"""version = 2
root = "{d / "containerd" / "root"}"
state = "{layout.run / node.name / "containerd-state"}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  # Nothing can be pulled here: the sandbox image is built locally (e2e/node/images.py).
  sandbox_image = "{PAUSE_IMAGE}"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # This VM refuses negative oom_score_adj values (the pause sandbox asks for -998):
        # the wrapper raises them to 0 before calling runc.
        BinaryName = "{runtime_wrapper}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{layout.cni_conf_dir(node)}"
"""


def cni_conflist(layout: Layout, node: NodeSpec) -> str:
    """A bridge network on the node's pod range. Masquerading is the host's job (pods talk to
    pods and Services across nodes with their own addresses), hairpin lets a pod reach itself
    through its Service."""
    conf = {
        "cniVersion": "1.0.0",
        "name": "sedna-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr, "gateway": node.gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.node_dir(node) / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2)


def kubelet_config(layout: Layout, node: NodeSpec) -> str:
    cfg: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "0.0.0.0",
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        # The API server (kubectl logs/exec) authenticates with its client certificate.
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket(node)}",
        # cgroup v1 without systemd; no QoS cgroup hierarchy on this VM.
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": "/etc/resolv.conf",
        "podCIDR": node.pod_cidr,
        # The disk is the development machine's: never evict for it, never collect the
        # locally built images (they cannot be pulled back).
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "registerWithTaints": [_taint(t) for t in node.taints],
        "nodeStatusUpdateFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }
    return yaml.safe_dump(cfg, sort_keys=False)


def _taint(spec: str) -> dict[str, str]:
    key_value, effect = spec.rsplit(":", 1)
    key, _, value = key_value.partition("=")
    return {"key": key, "value": value, "effect": effect}


def kube_proxy_config(layout: Layout, node: NodeSpec) -> str:
    cfg = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": CLUSTER_CIDR,
        "hostnameOverride": node.name,
        "bindAddress": "0.0.0.0",
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # Leave the VM's conntrack sysctls and the process's OOM score as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "oomScoreAdj": 0,
        "iptables": {"syncPeriod": "30s", "minSyncPeriod": "1s"},
    }
    return yaml.safe_dump(cfg, sort_keys=False)


_COREFILE = f""".:53 {{
    errors
    health {{
        lameduck 5s
    }}
    ready
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    reload
    loadbalance
}}
"""


def coredns_manifests() -> list[dict[str, Any]]:
    """Cluster DNS as on a real cluster: the ``kube-dns`` Service at the kubelets' clusterDNS
    address in front of a CoreDNS Deployment (the binary built from its Go module)."""
    labels = {"k8s-app": "kube-dns"}
    meta = {"namespace": "kube-system", "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns", "labels": labels},
            "rules": [
                {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns", "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", **meta}, "data": {"Corefile": _COREFILE}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [
                            {
                                "name": "coredns",
                                "image": COREDNS_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                    {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                                ],
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
                                "resources": {"requests": {"cpu": "50m", "memory": "50Mi"}, "limits": {"memory": "170Mi"}},
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", **meta},
            "spec": {
                "selector": labels,
                "clusterIP": DNS_SERVICE_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                    {"name": "metrics", "port": 9153, "protocol": "TCP"},
                ],
            },
        },
    ]


def local_volumes(layout: Layout, node: NodeSpec, count: int = 3, size: str = "10Gi") -> list[dict[str, Any]]:
    """Static hostPath PersistentVolumes with no storage class: a claim without a class (the
    chart's knowledge base by default) binds one, as on a cluster with pre-provisioned disks."""
    out = []
    for i in range(1, count + 1):
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"sedna-local-{i}", "labels": {"app.kubernetes.io/part-of": "sedna-node"}},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(layout.root / "volumes" / f"pv-{i}"), "type": "DirectoryOrCreate"},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node.name]}]}
                            ]
                        }
                    },
                },
            }
        )
    return out
