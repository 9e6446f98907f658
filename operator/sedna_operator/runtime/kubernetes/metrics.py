"""Prometheus metrics of the operator (served on ``--metrics-port`` at ``/metrics``).

The metrics live in the default registry at module level, so one process has one set of them
whatever the number of operator runs (tests start several); ``workers`` is recomputed from
the latest observation of each resource.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = ["RECONCILES", "ERRORS", "LATENCY", "WORKERS", "WorkerCounts", "serve_metrics"]

RECONCILES = Counter("sedna_operator_reconciles", "Reconciles done, by kind and result.", ["kind", "result"])
ERRORS = Counter(
    "sedna_operator_errors", "Reconciles that failed, by kind and error class.", ["kind", "error"]
)
LATENCY = Histogram(
    "sedna_operator_reconcile_seconds",
    "Time of one reconcile (observe + plan + apply), by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WORKERS = Gauge(
    "sedna_operator_workers", "Worker pods owned by sedna.io resources, by kind and phase.", ["kind", "phase"]
)


class WorkerCounts:
    """Per-resource worker phases, summed into the ``sedna_operator_workers`` gauge."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], Tally[str]] = {}

    def set(self, key: tuple[str, str, str], phases: list[str]) -> None:
        self._by_key[key] = Tally(phases)
        self._publish(key[0])

    def drop(self, key: tuple[str, str, str]) -> None:
        if self._by_key.pop(key, None) is not None:
            self._publish(key[0])

    def _publish(self, kind: str) -> None:
        total: Tally[str] = Tally()
        for (k, _, _), tally in self._by_key.items():
            if k == kind:
                total.update(tally)
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            WORKERS.labels(kind=kind, phase=phase).set(total.get(phase, 0))


def serve_metrics(port: int, addr: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` from a daemon thread."""
    start_http_server(port, addr=addr)
