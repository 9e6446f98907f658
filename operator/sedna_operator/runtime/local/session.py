"""``sedna run``: apply manifests, serve the LC, and loop until every job has finished.

Relative paths in manifests (``Dataset.spec.url``, ``Model.spec.url``, IL/LL ``outputDir``)
are resolved against the manifest file's directory when applied: Kubernetes host paths are
absolute, and examples stay relocatable. Only one ``sedna run`` may use a state directory at a
time (an advisory lock that a killed process releases).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from ...api.base import shorten
from ...api.paths import resolve_relative_paths
from ...lc.localjobs import dataset_credentials, prepare_lc_files
from ...manifests import load_files
from .images import ImageMap, discover_image_files
from .loop import JOB_KINDS, LocalRuntime, RuntimeConfig, load_reconcilers, new_secret
from .ports import port_is_free
from .store import Store

__all__ = [
    "RunOptions",
    "RunOutcome",
    "run",
    "state_lock",
    "state_host_path",
    "StateLocked",
    "DEFAULT_DRAIN_SECONDS",
    "DEFAULT_MAX_RESOURCES",
    "max_resources",
]

log = logging.getLogger("sedna.local")

# How long workers of finished jobs (IL/LL inference finishing a stream) may run on.
DEFAULT_DRAIN_SECONDS = 30.0
SEDNA_HOST_ROOT = "/var/lib/sedna"
# Objects one `sedna run` applies (docs/limits.md): generous for real use, and it keeps an
# accidental or hostile input (a generated file of a million Datasets) from being parsed,
# stored and polled at all.
DEFAULT_MAX_RESOURCES = 10000
MAX_RESOURCES_ENV = "SEDNA_MAX_RESOURCES"
# Objects applied per transaction: one commit per batch rather than per object, and a stop
# request is noticed between batches.
APPLY_BATCH = 500
# More applied objects than this are summarised per kind and action, not printed one a line.
APPLY_LINES = 50


def max_resources() -> int:
    """``$SEDNA_MAX_RESOURCES`` or the default; ValueError (naming it) for a bad value."""
    raw = os.environ.get(MAX_RESOURCES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_RESOURCES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{MAX_RESOURCES_ENV}={shorten(raw, 40)} is not a positive integer")
    return int(raw)


def state_host_path(state_dir: Path) -> Callable[[str], str]:
    """Host path -> local path: Sedna's ``/var/lib/sedna/...`` (hot-update dirs) lives under
    ``<state>/var/lib/sedna/``; every other host path is itself."""
    root = str((state_dir / SEDNA_HOST_ROOT.lstrip("/")).resolve())

    def host_path(path: str) -> str:
        if path == SEDNA_HOST_ROOT or path.startswith(SEDNA_HOST_ROOT + "/"):
            return root + path[len(SEDNA_HOST_ROOT) :]
        return path

    return host_path


class StateLocked(RuntimeError):
    """Another ``sedna run`` holds the state directory."""


@contextmanager
def state_lock(state_dir: Path) -> Iterator[IO[str]]:
    state_dir.mkdir(parents=True, exist_ok=True)
    fh = open(state_dir / "run.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateLocked(f"another `sedna run` is using {state_dir}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield fh
    finally:
        fh.close()


@dataclass
class RunOptions:
    files: list[Path]
    state_dir: Path
    timeout: float | None = None
    image_maps: list[str] = field(default_factory=list)
    interval: float = 0.5
    dataset_poll: float = 1.0
    always_remap_ports: bool = False
    drain: float = DEFAULT_DRAIN_SECONDS


@dataclass
class RunOutcome:
    finished: bool
    reason: str  # finished | timeout | interrupted | error
    errors: list[str] = field(default_factory=list)
    #: ``Kind/name: reason: message`` of each job that ended Failed
    failed: list[str] = field(default_factory=list)
    #: ``Kind/name`` of each job still running when the run stopped
    unfinished: list[str] = field(default_factory=list)
    #: the run stopped before it had applied and reconciled every resource once
    incomplete: bool = False

    @property
    def exit_code(self) -> int:
        """0: every job succeeded (services may still serve at ``--timeout``); 1: an error or
        a failed job; 124: ``--timeout`` with jobs unfinished, or before every resource was
        applied and reconciled once (as ``timeout(1)``); 130: Ctrl-C or SIGTERM."""
        if self.reason == "interrupted":
            return 130
        if self.reason == "error" or self.failed:
            return 1
        if self.unfinished or self.incomplete:
            return 124
        return 0


def job_failure(obj: dict[str, Any]) -> str | None:
    """Why a job ended Failed (FL writes ``phase``; IL/LL end with a Failed condition), else None."""
    status = obj.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"]
    last = conditions[-1] if conditions else {}
    if status.get("phase") != "Failed" and last.get("type") != "Failed":
        return None
    return ": ".join(str(part) for part in (last.get("reason"), last.get("message")) if part) or "Failed"


def job_outcomes(store: Store, kinds: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(failed jobs with their reason, unfinished jobs) among ``kinds``."""
    failed: list[str] = []
    unfinished: list[str] = []
    for row in store.list():
        if row.kind not in kinds:
            continue
        ref = f"{row.kind}/{row.name}"
        why = job_failure(row.obj)
        if why is not None:
            failed.append(f"{ref}: {why}")
        elif not row.finished:
            unfinished.append(ref)
    return failed, unfinished


def apply_files(
    store: Store, files: list[Path], should_stop: Callable[[], bool] | None = None
) -> tuple[list[str], list[str]]:
    """Apply every manifest; returns (messages, errors). Refuses more than
    :func:`max_resources` objects before applying any. With ``should_stop``, loading and
    applying end early when it says so (a batch is applied whole or not at all; the next run
    applies the same files again)."""
    try:
        limit = max_resources()
    except ValueError as exc:
        return [], [str(exc)]
    result = load_files(
        files, max_objects=limit, limit_name=f"{MAX_RESOURCES_ENV}={limit}", should_stop=should_stop
    )
    messages: list[str] = [f"warning: {w}" for w in result.warnings]
    if result.errors or result.stopped:
        return messages, result.errors
    applied_lines: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    resources = result.resources
    for start in range(0, len(resources), APPLY_BATCH):
        if should_stop is not None and should_stop():
            return messages, []
        batch = [
            (
                resolve_relative_paths(resource.to_wire(with_status=False), str(path.resolve().parent)),
                str(path.resolve()),
            )
            for path, resource in resources[start : start + APPLY_BATCH]
        ]
        for applied in store.apply_all(batch):
            applied_lines.append(f"{applied.kind.lower()}/{applied.name} {applied.action}")
            counts[(applied.kind.lower(), applied.action)] = (
                counts.get((applied.kind.lower(), applied.action), 0) + 1
            )
    if len(applied_lines) <= APPLY_LINES:
        messages += applied_lines
    else:  # thousands of lines would bury the rest (and cost seconds to print)
        messages += [f"{n} {kind} {action}" for (kind, action), n in sorted(counts.items())]
    for path, doc in result.foreign:
        if doc.get("kind") in ("Secret", "ConfigMap") and doc.get("apiVersion") == "v1":
            store.put_object(doc)
            messages.append(f"{doc['kind'].lower()}/{(doc.get('metadata') or {}).get('name')} stored")
        elif doc.get("apiVersion"):
            messages.append(
                f"skipped {shorten(doc.get('kind'), 60, quote=False)} {shorten(doc.get('apiVersion'), 60, quote=False)} in {path} (not run locally)"
            )
    return messages, []


def _lc_port(store: Store) -> int | None:
    """The LC port of the previous run, if still free (live workers keep reporting to it)."""
    saved = store.get_meta("lc_port")
    if saved and saved.isdigit() and port_is_free(int(saved)):
        return int(saved)
    return None


def run(
    options: RunOptions,
    show: Callable[[Store, float, str], None] | None = None,
    say: Callable[[str], None] = print,
) -> RunOutcome:
    """Run until every job has finished, ``timeout`` passes, or SIGINT/SIGTERM arrives.

    The signals and the deadline are watched from the first moment (parsing and applying
    thousands of manifests takes seconds), and asked between documents, batches and
    resources, so a stop is honoured within about one reconcile, never after a whole pass.
    """
    started = time.monotonic()
    stop: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.append("interrupted")

    def stopping() -> bool:
        if not stop and options.timeout is not None and time.monotonic() - started > options.timeout:
            stop.append("timeout")
        return bool(stop)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with state_lock(options.state_dir):
            store = Store(options.state_dir)
            try:
                return _run_locked(options, store, show, say, started, stop, stopping)
            finally:
                store.close()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _run_locked(
    options: RunOptions,
    store: Store,
    show: Callable[[Store, float, str], None] | None,
    say: Callable[[str], None],
    started: float,
    stop: list[str],
    stopping: Callable[[], bool],
) -> RunOutcome:
    from ...lc.datasets import DatasetMonitor
    from ...lc.models import OwnerKey
    from ...lc.server import LCServer
    from ...lc.settings import LCSettings
    from ...lc.sinks import DatasetKey
    from ...lc.sqlite_sink import SQLiteSink

    messages, errors = apply_files(store, options.files, should_stop=stopping)
    if errors:
        return RunOutcome(False, "error", errors)
    for line in messages:
        say(line)
    if stopping():  # nothing ran yet: what was applied stays, the next run applies the rest
        failed, unfinished = job_outcomes(store, JOB_KINDS)
        return RunOutcome(False, stop[0], failed=failed, unfinished=unfinished, incomplete=True)
    image_map = ImageMap()
    for option in options.image_maps:
        image_map.add_option(option)
    for path in discover_image_files(options.files):
        image_map.add_file(path)
    secret = new_secret(store)
    # The embedded LC is the LC app on a thread; reports and dataset counts land in its SQLite
    # file, so they survive a killed run (the loop copies reports into status.reports).
    sink = SQLiteSink(Path(options.state_dir) / "lc.db")
    monitor = DatasetMonitor(sink, interval=options.dataset_poll)
    for row in store.list("Dataset"):
        spec = row.obj.get("spec") or {}
        monitor.watch(
            DatasetKey(namespace=row.namespace, name=row.name),
            str(spec.get("url")),
            str(spec.get("format")),
            **dataset_credentials(store, row.namespace, spec),
        )
    settings = LCSettings.for_local(
        secret=secret, port=_lc_port(store) or 0, node_name="localhost", log_level="WARNING"
    )
    lc = LCServer(settings, sink, monitor=monitor).start()
    store.set_meta("lc_port", str(lc.port))
    config = RuntimeConfig(
        lc_url=lc.url,
        image_map=image_map,
        lc_secret=secret,
        market_job_key=os.environ.get("SEDNA_MARKET_JOB_KEY") or None,
        always_remap_ports=options.always_remap_ports,
        host_path=state_host_path(options.state_dir),
    )
    controllers = load_reconcilers()
    missing = sorted({r.kind for r in store.list() if r.kind in JOB_KINDS and r.kind not in controllers})
    for kind in missing:
        say(f"warning: no reconciler for {kind} is installed; those resources are not run")
    runtime = LocalRuntime(
        store,
        config,
        controllers,
        reports=lambda ns, kind, name: sink.reports(OwnerKey(namespace=ns, kind=kind, name=name)),
        dataset_counts=lambda ns, name: sink.dataset_count(DatasetKey(namespace=ns, name=name)),
        all_dataset_counts=sink.dataset_counts,
    )
    runtime.hooks.append(prepare_lc_files)
    runtime.should_stop = stopping
    reason = "finished"
    drain_since: float | None = None
    passes = 0  # complete passes: until one is, some resource was never reconciled
    try:
        while True:
            runtime.step()
            # a pass a stop cut short is not a finished run, even if done() says so
            if not runtime.pass_complete:
                reason = stop[0] if stop else "interrupted"
                break
            passes += 1
            elapsed = time.monotonic() - started
            if show is not None:
                show(store, elapsed, "")
            if runtime.done():
                drain_since = drain_since if drain_since is not None else time.monotonic()
                if not runtime.draining() or time.monotonic() - drain_since >= options.drain:
                    break
            if stopping():
                reason = stop[0]
                break
            time.sleep(options.interval)
    finally:
        if reason == "finished":
            runtime.stop_finished_workers()
        else:
            runtime.runner.suspend_all()
        monitor.stop()
        lc.stop()
        sink.close()
        if show is not None:
            show(store, time.monotonic() - started, reason)
        failed, unfinished = job_outcomes(store, tuple(k for k in JOB_KINDS if k in controllers))
    return RunOutcome(
        reason == "finished", reason, failed=failed, unfinished=unfinished, incomplete=passes == 0
    )
