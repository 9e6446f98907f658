"""Readiness of local workers: the pod's TCP readiness probe, tried against the port the
worker's Service really got on 127.0.0.1 (the runtime remaps every Service port)."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from typing import Any

from .podenv import LOCAL_IP, ServiceInfo

__all__ = ["probe_port", "tcp_ready"]


def probe_port(pod: Mapping[str, Any]) -> int | None:
    """The port of the first container's ``tcpSocket`` readiness probe, if it has one."""
    containers = (pod.get("spec") or {}).get("containers") or []
    probe = (containers[0].get("readinessProbe") or {}) if containers else {}
    port = (probe.get("tcpSocket") or {}).get("port")
    return port if isinstance(port, int) else None


def tcp_ready(pod: Mapping[str, Any], services: Iterable[ServiceInfo], timeout: float = 0.2) -> bool | None:
    """Whether the worker accepts connections where its Service sends them; None when the pod
    has no TCP probe or no Service of its maps the port (nothing to try)."""
    port = probe_port(pod)
    if port is None:
        return None
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for svc in services:
        if svc.selects(labels) and port in svc.ports:
            try:
                with socket.create_connection((LOCAL_IP, svc.ports[port]), timeout=timeout):
                    return True
            except OSError:
                return False
    return None
