"""Prometheus metrics of one LC (a registry per instance, so several LCs can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["LCMetrics", "REJECT_REASONS"]

REJECT_REASONS = (
    "too_large",
    "malformed",
    "invalid",
    "name_mismatch",
    "unauthorized",
    "forbidden",
    "replayed",
    "sink_error",
)


class LCMetrics:
    """Counters of accepted / rejected reports, report latency, watched datasets."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.accepted = Counter(
            "sedna_lc_reports_accepted",
            "Worker reports accepted, by owner kind.",
            ["owner_kind"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "sedna_lc_reports_rejected",
            "Worker reports rejected, by reason.",
            ["reason"],
            registry=self.registry,
        )
        for reason in REJECT_REASONS:
            self.rejected.labels(reason=reason)
        self.latency = Histogram(
            "sedna_lc_report_seconds",
            "Time to validate and record one worker report.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.datasets_watched = Gauge(
            "sedna_lc_datasets_watched", "Dataset index files watched by this LC.", registry=self.registry
        )
        self.dataset_events = Counter(
            "sedna_lc_dataset_events",
            "Dataset monitor events (truncation, rotation, errors), by reason.",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
