"""The real-node tier: the chart and the examples on a real cluster (kubelet, containerd, CNI,
kube-proxy, CoreDNS), built on this machine by e2e/node, or a kind cluster (e2e/kind/run.sh).
Every test here carries the ``node`` marker and runs after the other tiers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.node import E2E, open_session

# What the tier installs: the chart's defaults, except that the LCs count dataset samples every
# 5 s instead of Sedna's 60 s, so that the learning examples trigger quickly.
CHART_VALUES: dict[str, Any] = {"lc": {"datasetPollSeconds": 5}}

TIMINGS: dict[str, float] = {}
COUNTS: dict[str, int] = {}


@pytest.fixture(scope="session")
def e2e() -> Iterator[E2E]:
    """The cluster, with the images on its nodes and the chart installed (once per session)."""
    session = open_session()
    try:
        TIMINGS.update(session.e2e.timings)
        session.e2e.timings, session.e2e.counts = TIMINGS, COUNTS
        values = dict(CHART_VALUES)
        if session.images_digest:
            stamp = {"podAnnotations": {"sedna.io/e2e-images": session.images_digest}}
            values = {**values, "operator": stamp, "kb": stamp, "lc": {**values["lc"], **stamp}}
        TIMINGS["helm install --wait"] = session.e2e.install_chart(values)
        yield session.e2e
    finally:
        start = time.monotonic()
        session.teardown()
        TIMINGS["teardown"] = time.monotonic() - start


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.write_sep("-", "real-node tier: stage durations")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:>50}: {seconds:6.1f}s")
    if COUNTS:
        terminalreporter.write_sep("-", "real-node tier: counts")
        for name, value in COUNTS.items():
            terminalreporter.write_line(f"{name:>50}: {value:6d}")
