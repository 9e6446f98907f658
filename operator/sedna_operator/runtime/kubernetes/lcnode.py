"""The LC as a DaemonSet pod: which Datasets this node counts, and the process's main loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from ...lc.datasets import DatasetMonitor
from ...lc.server import serve_async
from ...lc.settings import LCSettings
from ...lc.sinks import DatasetKey
from .client import ApiError, KubeClient, load_credentials
from .sink import KubernetesReportSink

__all__ = ["node_datasets", "sync_watches", "run_lc"]

log = logging.getLogger("sedna.lc")


def node_datasets(items: list[dict[str, Any]], node: str) -> dict[DatasetKey, tuple[str, str]]:
    """Datasets whose ``spec.nodeName`` is ``node``: key -> (url, format)."""
    out = {}
    for item in items:
        spec = item.get("spec") or {}
        if spec.get("nodeName") == node and not item["metadata"].get("deletionTimestamp"):
            key = DatasetKey(namespace=item["metadata"]["namespace"], name=item["metadata"]["name"])
            out[key] = (str(spec.get("url", "")), str(spec.get("format", "")))
    return out


def sync_watches(monitor: DatasetMonitor, wanted: dict[DatasetKey, tuple[str, str]]) -> None:
    """Make the monitor watch exactly ``wanted`` (a changed URL or format restarts a watch)."""
    for key in set(monitor.watched) - set(wanted):
        monitor.unwatch(key)
    for key, (url, fmt) in wanted.items():
        monitor.watch(key, url, fmt)


async def _follow_datasets(client: KubeClient, monitor: DatasetMonitor, node: str, period: float) -> None:
    """List Datasets every ``period`` seconds and keep the monitor's watches in line."""
    while True:
        try:
            body = await client.request("GET", "/apis/sedna.io/v1alpha1/datasets")
            sync_watches(monitor, node_datasets(body.get("items") or [], node))
        except ApiError as exc:
            log.warning("listing datasets failed (kept the current watches): %s", exc)
        await asyncio.sleep(period)


async def run_lc(settings: LCSettings, data_dir: str | Path, kubeconfig: str | None = None) -> None:
    """Serve the worker API with the Kubernetes sink and count this node's datasets."""
    client = KubeClient(load_credentials(kubeconfig), user_agent="sedna-lc")
    sink = KubernetesReportSink(client, Path(data_dir) / "lc")
    monitor = DatasetMonitor(sink, interval=settings.dataset_poll_seconds, rootfs=settings.rootfs_mount_dir)
    sink.resume()
    follower = asyncio.create_task(
        _follow_datasets(client, monitor, settings.node_name, settings.dataset_poll_seconds)
    )
    try:
        await serve_async(settings, sink, monitor=monitor)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await sink.close()
