"""The local controller (LC): the worker-report API, the dataset monitor and round data files.

Public API for runtimes::

    settings = LCSettings.for_local(secret=key)          # or LCSettings.for_cluster()
    sink = SQLiteSink(state_dir / "lc.db")               # or MemoryReportSink(), or a Kubernetes sink
    monitor = DatasetMonitor(sink, interval=settings.dataset_poll_seconds)
    with LCServer(settings, sink, monitor=monitor) as lc:  # lc.url -> LC_SERVER of the workers
        token = report_token(key, namespace, "IncrementalLearningJob", name)  # -> SEDNA_REPORT_TOKEN
        ...

``create_app(settings, sink)`` gives the bare ASGI app; ``serve(settings, sink)`` blocks (DaemonSet).

Everything that runs in the LC lives here, for both runtimes: the report API (``app``, ``auth``,
``replay``), sinks (``sinks``, ``sqlite_sink``; the cluster's status sink is
``runtime.kubernetes.sink``), the dataset monitor (``datasets``), round files and deploy copies
(``jobfiles``, ``roundfiles``, ``rounds``; ``clusterjobs`` on a node, ``localjobs`` in
``sedna run``), and the delivery of reports buffered by ended workers (``spool``).
"""

from .app import REPORT_PATH, SEQUENCE_HEADER, create_app
from .auth import REPORT_TOKEN_ENV, bearer_token, report_token, token_matches
from .datasets import DatasetMonitor, IndexState, PollResult, poll_index, read_samples, url_to_host_path
from .metrics import LCMetrics
from .models import (
    OWNER_KINDS,
    WORKER_KINDS,
    WORKER_STATUSES,
    OwnerKey,
    WorkerInfo,
    canonical_owner_kind,
    report_from_wire,
    report_to_wire,
)
from .replay import ReplayError, SequenceGuard
from .rounds import (
    RoundConflictError,
    RoundFiles,
    append_eval_version,
    deploy_hot_update_model,
    deploy_ll_index,
    ensure_job_dirs,
    split_new_samples,
    write_hot_update_config,
    write_round,
    write_round_file,
)
from .server import LCServer, serve, serve_async
from .settings import LCSettings
from .sinks import (
    DatasetEvent,
    DatasetKey,
    DatasetSink,
    MemoryDatasetSink,
    MemoryReportSink,
    ReportSink,
    ReportStore,
)
from .sqlite_sink import SQLiteSink

__all__ = [
    "LCSettings", "create_app", "serve", "serve_async", "LCServer", "LCMetrics",
    "REPORT_PATH", "SEQUENCE_HEADER", "REPORT_TOKEN_ENV", "report_token", "token_matches", "bearer_token",
    "OwnerKey", "WorkerInfo", "OWNER_KINDS", "WORKER_KINDS", "WORKER_STATUSES", "canonical_owner_kind",
    "report_to_wire", "report_from_wire", "ReplayError", "SequenceGuard",
    "ReportSink", "ReportStore", "MemoryReportSink", "SQLiteSink",
    "DatasetKey", "DatasetEvent", "DatasetSink", "MemoryDatasetSink",
    "DatasetMonitor", "IndexState", "PollResult", "poll_index", "read_samples", "url_to_host_path",
    "RoundFiles", "RoundConflictError", "split_new_samples", "append_eval_version", "write_round",
    "write_round_file", "write_hot_update_config", "deploy_hot_update_model", "deploy_ll_index",
    "ensure_job_dirs",
]  # fmt: skip
