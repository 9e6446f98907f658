"""The LC as a DaemonSet pod: which Datasets this node counts, the IL/LL file work of its jobs
(:mod:`sedna_operator.lc.clusterjobs`), and the process's main loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from ...api.paths import namespace_base, resolve_relative_paths
from ...lc.clusterjobs import HostPaths, sync_learning_jobs
from ...lc.datasets import DatasetMonitor
from ...lc.objstore import is_s3_url
from ...lc.server import serve_async
from ...lc.settings import LCSettings
from ...lc.sinks import DatasetKey
from .client import ApiError, KubeClient, load_credentials
from .lccreds import CredentialCache, Resolved
from .sink import KubernetesReportSink

__all__ = ["node_datasets", "sync_watches", "dataset_credentials", "follow_node", "run_lc"]

log = logging.getLogger("sedna.lc")


def node_datasets(items: list[dict[str, Any]], node: str) -> dict[DatasetKey, tuple[str, str, str]]:
    """Datasets whose ``spec.nodeName`` is ``node``: key -> (url, format, uid)."""
    out = {}
    for item in items:
        spec = item.get("spec") or {}
        if spec.get("nodeName") == node and not item["metadata"].get("deletionTimestamp"):
            key = DatasetKey(namespace=item["metadata"]["namespace"], name=item["metadata"]["name"])
            out[key] = (str(spec.get("url", "")), str(spec.get("format", "")), str(item["metadata"].get("uid", "")))
    return out


def sync_watches(
    monitor: DatasetMonitor,
    wanted: dict[DatasetKey, tuple[str, str, str]],
    credentials: dict[DatasetKey, Resolved] | None = None,
) -> None:
    """Make the monitor watch exactly ``wanted`` (a changed URL, format or object restarts a watch);
    ``credentials`` are those of the Datasets whose index is on s3."""
    for key in set(monitor.watched) - set(wanted):
        monitor.unwatch(key)
    for key, (url, fmt, uid) in wanted.items():
        creds, problem = (credentials or {}).get(key, (None, None))
        monitor.watch(key, url, fmt, uid=uid, credentials=creds, credential_problem=problem)


async def dataset_credentials(
    cache: CredentialCache, items: list[dict[str, Any]], wanted: dict[DatasetKey, tuple[str, str, str]]
) -> dict[DatasetKey, Resolved]:
    """The credentials of ``wanted``'s s3 Datasets (their ``spec.credentialName`` Secret)."""
    out: dict[DatasetKey, Resolved] = {}
    for item in items:
        meta, spec = item["metadata"], item.get("spec") or {}
        key = DatasetKey(namespace=meta["namespace"], name=meta["name"])
        if key in wanted and is_s3_url(str(spec.get("url", ""))):
            out[key] = await cache.get(meta["namespace"], spec.get("credentialName"))
    return out


async def follow_node(
    client: KubeClient, sink: KubernetesReportSink, monitor: DatasetMonitor, settings: LCSettings
) -> None:
    """Every ``settings.job_poll_seconds``: list the Datasets, keep the monitor's watches on this
    node's, and do the round-data / deploy work of the IL/LL jobs on this node's datasets."""
    node = settings.node_name
    paths = HostPaths(settings.rootfs_mount_dir, settings.writable_host_paths)
    errors: dict[tuple[str, str, str], dict[str, str]] = {}
    while True:
        try:
            body = await client.request("GET", "/apis/sedna.io/v1alpha1/datasets")
        except ApiError as exc:
            log.warning("listing datasets failed (kept the current watches): %s", exc)
        else:
            items = [
                resolve_relative_paths(
                    {"kind": "Dataset", **item},
                    namespace_base(settings.relative_path_root, item["metadata"].get("namespace", "")),
                )
                for item in body.get("items") or []
            ]
            wanted = node_datasets(items, node)
            cache = CredentialCache(client)  # Secrets are read again every pass: rotation works
            sync_watches(monitor, wanted, await dataset_credentials(cache, items, wanted))
            try:
                await sync_learning_jobs(client, sink, node, items, paths, errors, cache)
            except Exception:  # one bad pass must not end the loop
                log.exception("learning job pass failed")
        await asyncio.sleep(settings.job_poll_seconds)


async def run_lc(settings: LCSettings, data_dir: str | Path, kubeconfig: str | None = None) -> None:
    """Serve the worker API with the Kubernetes sink and count this node's datasets."""
    client = KubeClient(load_credentials(kubeconfig), user_agent="sedna-lc")
    sink = KubernetesReportSink(client, Path(data_dir) / "lc")
    monitor = DatasetMonitor(
        sink,
        interval=settings.dataset_poll_seconds,
        rootfs=settings.rootfs_mount_dir,
        cache_dir=str(Path(data_dir) / "lc" / "index-cache"),
    )
    sink.resume()
    follower = asyncio.create_task(follow_node(client, sink, monitor, settings))
    try:
        await serve_async(settings, sink, monitor=monitor)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await sink.close()
