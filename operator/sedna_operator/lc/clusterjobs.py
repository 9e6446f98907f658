"""The LC's file work for incremental / lifelong learning jobs on a cluster (the ``sedna lc``
DaemonSet; :mod:`.localjobs` is the same work for ``sedna run``).

Every pass, the LC of a node lists the IncrementalLearningJobs and LifelongLearningJobs whose
Dataset's ``spec.nodeName`` is its node and, for each, acts on ``status.controllerState``
(:mod:`sedna_operator.lc.jobfiles`):

* ``roundData``: writes the round's train and eval files from the dataset's sample lines, in
  the dataset's format (:mod:`sedna_operator.lc.roundfiles`: a ``csv`` dataset gets
  ``data.csv`` starting with its header line, as the local runtime writes it);
* ``deploy``: carries out the copy (LL's KB index) or the hot update (IL) once;

then merge-patches ``status.lcState`` on the status subresource (through the sink's spool)::

    lcState:
      files: {<round data path>: true}             # written for this job
      deploys: {<deploy id>: "done" | "failed: <why>"}
      evalVersions: {<round>: [from, to, trainProb]}  # Sedna's eval versions, newest five

Only what the current ``controllerState`` names is kept (older keys are set to null), so the
object stays small. The operator reads ``lcState`` back (``observe``) and the reconcilers wait
until the files they need are recorded. A path already recorded is not written again; a
failed deploy is tried again on every pass, with one Warning event per distinct failure.

Host paths: a path under one of the LC's writable host directories (the chart mounts them at
their own path) is used as is; any other is read (and written, if the mount allows) under the
rootfs mount.

Object storage: a Dataset index on s3 is read with the Dataset's ``credentialName``; round files
under an s3 ``outputDir`` are uploaded and s3 deploys downloaded / uploaded / copied with the
job's ``credentialName`` (:mod:`sedna_operator.lc.objstore`; the Secrets are read by
:class:`sedna_operator.runtime.kubernetes.lccreds.CredentialCache`). A failure is the usual Warning event, naming the object and
the Secret.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..controllers.plan import EventPlan

# the Kubernetes client, events and status sink are the operator's (one client for both)
from ..runtime.kubernetes.apply import object_ref, post_event
from ..runtime.kubernetes.client import ApiError, KubeClient
from ..runtime.kubernetes.lccreds import CredentialCache, Resolved
from ..runtime.kubernetes.observe import resource_path
from ..runtime.kubernetes.sink import KubernetesReportSink
from . import jobfiles, rounds
from .datasets import DatasetLines, read_dataset, read_remote_dataset, url_to_host_path
from .objstore import Storage, is_s3_url

__all__ = ["LEARNING_KINDS", "HostPaths", "JobWork", "plan_job", "sync_learning_jobs"]

log = logging.getLogger("sedna.lc")

LEARNING_KINDS = {
    "IncrementalLearningJob": "incrementallearningjobs",
    "LifelongLearningJob": "lifelonglearningjobs",
}
_REMOTE = ("s3://", "http://", "https://", "obs://")


@dataclass(frozen=True)
class HostPaths:
    """Where this process reads and writes a host path."""

    rootfs: str = ""
    writable: tuple[str, ...] = ()

    def _under_writable(self, path: str) -> bool:
        norm = os.path.normpath(path)
        return any(norm == w.rstrip("/") or norm.startswith(w.rstrip("/") + "/") for w in self.writable if w)

    def read(self, path: str) -> str:
        if self._under_writable(path) or not self.rootfs:
            return path
        return os.path.join(self.rootfs, path.lstrip("/"))

    def write(self, path: str) -> str:
        return self.read(path)


@dataclass
class JobWork:
    """The outcome of one pass over one job: the ``lcState`` merge patch (None: nothing new) and events."""

    patch: dict[str, Any] | None = None
    events: list[EventPlan] = field(default_factory=list)


def _dataset_lines(dataset: Mapping[str, Any], paths: HostPaths, creds: Resolved = (None, None)) -> DatasetLines:
    spec = dataset.get("spec") or {}
    url = str(spec.get("url", ""))
    if is_s3_url(url):
        return read_remote_dataset(url, str(spec.get("format", "txt")), creds[0], creds[1])
    local = url_to_host_path(url)
    if local is None:
        raise ValueError(f"dataset URL {url} is not a host path")
    path = paths.read(local)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dataset index {url} not found on this node")
    return read_dataset(path, str(spec.get("format", "txt")))


def _write_round(
    data: Mapping[str, Any],
    needed: list[str],
    dataset: Mapping[str, Any],
    versions: Mapping[str, Any],
    paths: HostPaths,
    storage: Storage | None = None,
    dataset_creds: Resolved = (None, None),
) -> dict[str, list[Any]]:
    """Write the ``needed`` files of round ``data``; return the eval versions to keep."""
    for target in needed:
        if target.startswith(_REMOTE) and not is_s3_url(target):
            raise ValueError(f"{target}: only host paths and s3 outputDirs are written by the LC")
    dataset_lines = _dataset_lines(dataset, paths, dataset_creds)
    lines = dataset_lines.samples
    to = int(data.get("to", 0))
    if len(lines) < to:
        raise ValueError(f"dataset has {len(lines)} samples, round {data.get('round')} needs {to}")
    clean = {k: v for k, v in versions.items() if isinstance(v, list) and len(v) == 3}
    dataset_url = str((dataset.get("spec") or {}).get("url", ""))
    files, updated = jobfiles.round_contents(data, dataset_lines, dataset_url, clean, needed)
    for path, body in files.items():
        if is_s3_url(path):
            (storage or Storage()).write_bytes(path, body)
        else:
            rounds.atomic_write_bytes(paths.write(path), body)
    return jobfiles.used_versions(lines, updated)


def plan_job(
    job: Mapping[str, Any],
    dataset: Mapping[str, Any] | None,
    paths: HostPaths,
    errors: dict[str, str],
    job_creds: Resolved = (None, None),
    dataset_creds: Resolved = (None, None),
) -> JobWork:
    """Do the file work ``job``'s controllerState asks for (blocking I/O); ``errors`` dedupes warnings.

    ``job_creds`` (of ``spec.credentialName``) are for an s3 ``outputDir``, ``dataset_creds`` for
    an s3 dataset index."""
    storage = Storage(credentials=job_creds[0], problem=job_creds[1], read=paths.read, write=paths.write)
    status = job.get("status") or {}
    state = status.get("controllerState") or {}
    lc = status.get("lcState") or {}
    recorded_files: dict[str, Any] = dict(lc.get("files") or {})
    recorded_deploys: dict[str, Any] = dict(lc.get("deploys") or {})
    versions: dict[str, Any] = dict(lc.get("evalVersions") or {})
    work = JobWork()
    files: dict[str, Any] = {}
    deploys: dict[str, Any] = {}
    new_versions: dict[str, Any] = dict(versions)

    def warn(key: str, reason: str, message: str) -> None:
        if errors.get(key) != message:
            errors[key] = message
            work.events.append(EventPlan(type="Warning", reason=reason, message=message))
            log.warning("%s/%s: %s", job["metadata"]["namespace"], job["metadata"]["name"], message)

    data = state.get("roundData")
    wanted, deploy = jobfiles.waited_paths(state)
    if isinstance(data, Mapping) and wanted:
        needed = [p for p in wanted if recorded_files.get(p) is not True]
        if needed:
            try:
                if dataset is None:
                    raise ValueError(f"dataset {data.get('dataset')} not found")
                new_versions = _write_round(data, needed, dataset, versions, paths, storage, dataset_creds)
            except (OSError, ValueError, rounds.RoundConflictError) as exc:
                warn("round", "RoundDataFailed", f"round {data.get('round')} data not written: {exc}")
            else:
                errors.pop("round", None)
                files.update({p: True for p in needed})
                work.events.append(
                    EventPlan(
                        type="Normal",
                        reason="RoundDataWritten",
                        message=f"round {data.get('round')}: {', '.join(needed)}",
                    )
                )
    request = state.get("deploy")
    if deploy is not None and isinstance(request, Mapping):
        target, rid = deploy
        if recorded_deploys.get(rid) != "done":
            kind = request.get("kind")
            try:
                jobfiles.carry_out(request, paths.read, paths.write, storage)
            except (OSError, KeyError, ValueError) as exc:
                message = f"{kind} of {request.get('source')} to {target} failed: {exc}"
                if recorded_deploys.get(rid) != f"failed: {exc}":
                    deploys[rid] = f"failed: {exc}"
                warn("deploy", "DeployCopyFailed", message)
            else:
                errors.pop("deploy", None)
                deploys[rid] = "done"
                work.events.append(
                    EventPlan(
                        type="Normal",
                        reason="DeployCopied",
                        message=f"{kind}: {request.get('source')} -> {target}",
                    )
                )
    # Keep only what the current controllerState names.
    for path in recorded_files:
        if path not in wanted:
            files[path] = None
    for rid in recorded_deploys:
        if deploy is None or rid != deploy[1]:
            deploys[rid] = None
    patch: dict[str, Any] = {}
    if files:
        patch["files"] = files
    if deploys:
        patch["deploys"] = deploys
    if new_versions != versions:
        patch["evalVersions"] = {**{k: None for k in versions if k not in new_versions}, **new_versions}
    work.patch = patch or None
    return work


async def _job_credentials(cache: CredentialCache, job: Mapping[str, Any]) -> Resolved:
    """The job's ``credentialName`` Secret, read only when its file work touches s3."""
    state = (job.get("status") or {}).get("controllerState") or {}
    wanted, deploy = jobfiles.waited_paths(state)
    request = state.get("deploy")
    urls = [*wanted, *([str(request.get("source", "")), deploy[0]] if deploy and isinstance(request, Mapping) else [])]
    if not any(is_s3_url(u) for u in urls):
        return None, None
    return await cache.get(job["metadata"]["namespace"], (job.get("spec") or {}).get("credentialName"))


def _on_node(
    job: Mapping[str, Any], datasets: Mapping[tuple[str, str], Mapping[str, Any]], node: str
) -> bool:
    name = ((job.get("spec") or {}).get("dataset") or {}).get("name")
    ds = datasets.get((job["metadata"]["namespace"], str(name)))
    return ds is not None and (ds.get("spec") or {}).get("nodeName") == node


async def sync_learning_jobs(
    client: KubeClient,
    sink: KubernetesReportSink,
    node: str,
    datasets: list[dict[str, Any]],
    paths: HostPaths,
    errors: dict[tuple[str, str, str], dict[str, str]],
    credentials: CredentialCache | None = None,
) -> int:
    """One pass over the IL/LL jobs of ``node``'s datasets; returns how many lcState patches were sent.

    ``credentials`` reads the Secrets of s3 outputDirs and dataset indexes (None: a new cache)."""
    cache = credentials or CredentialCache(client)
    by_key = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in datasets}
    sent = 0
    seen: set[tuple[str, str, str]] = set()
    for kind, plural in LEARNING_KINDS.items():
        try:
            body = await client.request("GET", f"/apis/sedna.io/v1alpha1/{plural}")
        except ApiError as exc:
            log.warning("listing %s failed: %s", plural, exc)
            continue
        for job in body.get("items") or []:
            meta = job["metadata"]
            if meta.get("deletionTimestamp") or not _on_node(job, by_key, node):
                continue
            if (job.get("status") or {}).get("completionTime"):
                continue
            key = (kind, meta["namespace"], meta["name"])
            seen.add(key)
            job.setdefault("kind", kind)
            ds = by_key.get(
                (meta["namespace"], str(((job.get("spec") or {}).get("dataset") or {}).get("name")))
            )
            job_creds = await _job_credentials(cache, job)
            dataset_creds: Resolved = (None, None)
            if ds is not None and is_s3_url(str((ds.get("spec") or {}).get("url", ""))):
                dataset_creds = await cache.get(meta["namespace"], (ds.get("spec") or {}).get("credentialName"))
            work = await asyncio.to_thread(
                plan_job, job, ds, paths, errors.setdefault(key, {}), job_creds, dataset_creds
            )
            if work.patch is not None:
                path = resource_path(kind, meta["namespace"], meta["name"], "status")
                try:
                    await sink.patch_status(path, {"status": {"lcState": work.patch}})
                    sent += 1
                except ApiError as exc:
                    log.warning("lcState of %s/%s/%s not recorded: %s", *key, exc)
            for event in work.events:
                await post_event(client, object_ref(job), event)
    for key in set(errors) - seen:
        errors.pop(key, None)
    return sent
