"""Host networking of the cluster: sysctls, the edge node's network namespace and veth link,
routes between the nodes' pod ranges, and the iptables rules a running Docker would
otherwise break (its FORWARD policy DROP silently blocks the pod bridges)."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from .layout import CLUSTER_CIDR, Layout, NodeSpec
from .processes import Daemons

REPO = Path(__file__).resolve().parents[2]

__all__ = [
    "run",
    "uplink",
    "host_ip",
    "in_netns",
    "setup_host",
    "setup_node_link",
    "teardown",
    "set_link",
    "set_quality",
]

_CHAIN = "SEDNA-NODE"
_NAT_CHAIN = "SEDNA-NODE-MASQ"


def run(*argv: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [*in_netns(netns), *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def in_netns(netns: str | None) -> list[str]:
    """Command prefix entering a network namespace only (``ip netns exec`` would also remount
    /sys, hiding the cgroup mounts the kubelet needs)."""
    return ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []


def uplink() -> str:
    """The interface of the host's default route."""
    out = run("ip", "-o", "route", "show", "default").stdout.split()
    return out[out.index("dev") + 1] if "dev" in out else "eth0"


def host_ip() -> str:
    """The address of the host's default-route interface: the cloud node's InternalIP."""
    out = run("ip", "-o", "-4", "addr", "show", "dev", uplink()).stdout.split()
    return out[out.index("inet") + 1].split("/")[0]


def _sysctl(key: str, value: str, netns: str | None = None) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    if netns is None:
        Path(path).write_text(value)
    else:
        run("sh", "-c", f"echo {value} > {path}", netns=netns)


def _ensure_rule(table: str, chain: str, rule: list[str], netns: str | None = None, position: str = "-A") -> None:
    if run("iptables", "-t", table, "-C", chain, *rule, check=False, netns=netns).returncode != 0:
        run("iptables", "-t", table, position, chain, *rule, netns=netns)


def _ensure_chain(table: str, chain: str, netns: str | None = None) -> None:
    run("iptables", "-t", table, "-N", chain, check=False, netns=netns)


def setup_host(layout: Layout) -> None:
    """Forwarding on, bridge traffic through iptables (kube-proxy's Service rules), / shared, and our own
    chains: accept pod traffic ahead of Docker's DROP policy, masquerade pods leaving the host."""
    _sysctl("net.ipv4.ip_forward", "1")
    _sysctl("net.bridge.bridge-nf-call-iptables", "1")
    # A node's / is a shared mount (systemd makes it so); kubelet's HostToContainer and
    # Bidirectional volume mounts are refused otherwise. This VM boots with it private.
    run("mount", "--make-rshared", "/")
    _ensure_chain("filter", _CHAIN)
    _ensure_rule("filter", _CHAIN, ["-s", CLUSTER_CIDR, "-j", "ACCEPT"])
    _ensure_rule("filter", _CHAIN, ["-d", CLUSTER_CIDR, "-j", "ACCEPT"])
    for node in layout.nodes:
        if node.host_veth:
            _ensure_rule("filter", _CHAIN, ["-i", node.host_veth, "-j", "ACCEPT"])
            _ensure_rule("filter", _CHAIN, ["-o", node.host_veth, "-j", "ACCEPT"])
    _ensure_rule("filter", "FORWARD", ["-j", _CHAIN], position="-I")
    _ensure_chain("nat", _NAT_CHAIN)
    _ensure_rule("nat", _NAT_CHAIN, ["-d", CLUSTER_CIDR, "-j", "RETURN"])
    _ensure_rule("nat", _NAT_CHAIN, ["-o", uplink(), "-j", "MASQUERADE"])
    _ensure_rule("nat", "POSTROUTING", ["-s", CLUSTER_CIDR, "-j", _NAT_CHAIN], position="-I")


def setup_node_link(layout: Layout, node: NodeSpec) -> None:
    """Give ``node`` its network namespace, linked to the host by a veth pair; route each
    side's pod range through the link."""
    assert node.netns is not None
    if run("ip", "netns", "list").stdout.split().count(node.netns) == 0:
        run("ip", "netns", "add", node.netns)
    if run("ip", "link", "show", node.host_veth, check=False).returncode != 0:
        run("ip", "link", "add", node.host_veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    run("ip", "addr", "replace", f"{node.link_host_ip}/{node.link_prefix}", "dev", node.host_veth)
    run("ip", "link", "set", node.host_veth, "up")
    run("ip", "addr", "replace", f"{node.ip}/{node.link_prefix}", "dev", "eth0", netns=node.netns)
    run("ip", "link", "set", "lo", "up", netns=node.netns)
    run("ip", "link", "set", "eth0", "up", netns=node.netns)
    run("ip", "route", "replace", "default", "via", node.link_host_ip, netns=node.netns)
    run("ip", "route", "replace", node.pod_cidr, "via", node.ip, "dev", node.host_veth)
    _sysctl("net.ipv4.ip_forward", "1", netns=node.netns)
    _sysctl("net.bridge.bridge-nf-call-iptables", "1", netns=node.netns)


def set_link(node: NodeSpec, up: bool) -> None:
    """Cut (``up=False``) or restore the edge node's link to the host."""
    run("ip", "link", "set", node.host_veth, "up" if up else "down")
    if up:
        run("ip", "route", "replace", node.pod_cidr, "via", node.ip, "dev", node.host_veth)


_LOSS_RULES = (("raw", "PREROUTING", "-i"), ("mangle", "POSTROUTING", "-o"))
# After the loss rules (raw comes before mangle; in mangle POSTROUTING they are appended first).
_DELAY_RULES = (("mangle", "PREROUTING", "-i"), ("mangle", "POSTROUTING", "-o"))


# The NFQUEUE number of the delay line (one per node namespace: each namespace has its own queues).
DELAY_QUEUE = 7


def set_quality(node: NodeSpec, daemons: Daemons, loss_percent: float = 0.0, delay_ms: float = 0.0) -> str:
    """Make the node's link lossy and/or slow, each way (zeros restore it); returns how.

    Both are made inside the node's network namespace, on its end of the veth, with what this
    machine's kernel has (it has no ``sch_netem``, so ``tc netem`` is not an option): loss by an
    iptables ``statistic`` match dropping packets at random, delay by iptables ``NFQUEUE``
    handing every packet to :mod:`e2e.node.delayline`, which lets it go ``delay_ms`` later.
    A packet is dropped before it is queued, so the two compose as netem's ``delay``+``loss``."""
    assert node.netns is not None
    name = f"{node.name}-delayline"
    daemons.stop(name)
    _clear_quality_rules(node)
    if not loss_percent and not delay_ms:
        return "restored"
    how = []
    if loss_percent:
        for table, chain, direction in _LOSS_RULES:
            run("iptables", "-t", table, "-A", chain, direction, "eth0", "-m", "statistic", "--mode", "random",
                "--probability", f"{loss_percent / 100:.4f}", "-j", "DROP", netns=node.netns)
        how.append(f"iptables statistic loss {loss_percent:g}%")
    if delay_ms:
        argv = [sys.executable, "-m", "e2e.node.delayline", "--queue", str(DELAY_QUEUE), "--delay-ms", f"{delay_ms:g}"]
        daemons.start(name, argv, env={"PYTHONPATH": str(REPO)}, prefix=in_netns(node.netns), exe=sys.executable)
        _wait_bound(daemons, name)
        for table, chain, direction in _DELAY_RULES:
            # --queue-bypass: should the delay line die, packets pass instead of being dropped.
            run("iptables", "-t", table, "-A", chain, direction, "eth0", "-j", "NFQUEUE",
                "--queue-num", str(DELAY_QUEUE), "--queue-bypass", netns=node.netns)
        how.append(f"NFQUEUE delay {delay_ms:g} ms")
    return ", ".join(how) + " each way"


def _wait_bound(daemons: Daemons, name: str, timeout: float = 10.0) -> None:
    """The delay line logs once it is bound to its queue; rules queueing to nobody would pass
    packets undelayed (bypass), silently."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "delaying NFQUEUE" in daemons.log(name).read_text(errors="replace").rsplit("\n=== ", 1)[-1]:
            return
        if not daemons.running(name):
            break
        time.sleep(0.1)
    raise RuntimeError(f"the delay line did not start:\n{daemons.log(name).read_text(errors='replace')[-2000:]}")


def _clear_quality_rules(node: NodeSpec) -> None:
    for table, chain, _ in (*_LOSS_RULES, *_DELAY_RULES):
        for rule in run("iptables", "-t", table, "-S", chain, netns=node.netns).stdout.splitlines():
            if rule.startswith(f"-A {chain} ") and ("statistic" in rule or "NFQUEUE" in rule):
                run("iptables", "-t", table, "-D", *shlex.split(rule)[1:], netns=node.netns)


def teardown(layout: Layout) -> None:
    """Remove what :func:`setup_host` and :func:`setup_node_link` made (missing parts are fine)."""
    for node in layout.nodes:
        if node.netns:
            run("ip", "link", "del", node.host_veth, check=False)
            run("ip", "netns", "del", node.netns, check=False)
        else:
            run("ip", "link", "del", "cni0", check=False)
    run("iptables", "-D", "FORWARD", "-j", _CHAIN, check=False)
    run("iptables", "-F", _CHAIN, check=False)
    run("iptables", "-X", _CHAIN, check=False)
    run("iptables", "-t", "nat", "-D", "POSTROUTING", "-s", CLUSTER_CIDR, "-j", _NAT_CHAIN, check=False)
    run("iptables", "-t", "nat", "-F", _NAT_CHAIN, check=False)
    run("iptables", "-t", "nat", "-X", _NAT_CHAIN, check=False)
