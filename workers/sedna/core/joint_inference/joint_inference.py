"""Joint inference: an edge model answers, hard examples go to the big model in the cloud."""

from __future__ import annotations

import os
import socket
import threading
import time
from copy import deepcopy
from typing import Any

import numpy as np

from sedna.backend.base import call_load
from sedna.core.base import JobBase, K8sResourceKind, resolve_callback
from sedna.service.client import ModelClient
from sedna.service.lc_reporter import JobReporter
from sedna.service.server.inference import InferenceServer

__all__ = [
    "JointInference",
    "BigModelService",
    "TSBigModelService",
    "InferenceReporter",
    "CloudBreaker",
    "CloudResult",
    "CloudDict",
]

MINING_THEN_INFERENCE = "mining-then-inference"
INFERENCE_THEN_MINING = "inference-then-mining"
FILE_LOAD_MODE = "file"


def get_host_ip() -> str:
    """The IP of the interface that routes outwards (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("8.8.8.8", 80))
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def _as_json_data(data: Any) -> Any:
    return data.tolist() if isinstance(data, np.ndarray) else data


class CloudResult(list):  # type: ignore[type-arg]
    """The big model's answer (a list, as Sedna 0.4+ returns it), also readable the way Sedna
    0.3 and HEAD's ``mining-then-inference`` hand it to the edge script: as the whole response
    ``{"result": [...]}``. So ``cloud_result[0]`` and ``cloud_result["result"][0]`` both work,
    and scripts written for any release run unchanged."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key == "result":
                return list(self)
            raise KeyError(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        """``response.get("result")``, as on Sedna 0.3's response dict."""
        return list(self) if key == "result" else default


class CloudDict(dict):  # type: ignore[type-arg]
    """A big model answering a mapping: ``answer["result"]`` gives the answer itself when the
    mapping has no ``result`` key of its own (the response-dict reading of :class:`CloudResult`)."""

    def __missing__(self, key: Any) -> Any:
        if key == "result":
            return dict(self)
        raise KeyError(key)


def as_cloud_result(answer: Any) -> Any:
    """Wrap the cloud's ``result`` so both Sedna readings of it work (see :class:`CloudResult`)."""
    if isinstance(answer, list) and not isinstance(answer, CloudResult):
        return CloudResult(answer)
    if isinstance(answer, dict) and not isinstance(answer, CloudDict):
        return CloudDict(answer)
    return answer


def load_model(job: JobBase, path: str | None) -> bool:
    """Load ``path`` (``MODEL_URL``) into ``job.estimator``; True when the estimator's ``load`` ran.

    ``MODEL_LOAD_MODE=file`` (the default): only an existing file or directory is loaded.
    Any other mode (Sedna HEAD's ``hf``, ``http``, ``https``...): ``MODEL_URL`` names no local
    file (a model hub id, an API endpoint), and the estimator's own ``load`` resolves it, so it
    is called with the URL as is. (Sedna HEAD does this through its torch backend only, which
    calls ``load()`` with no argument: estimators written for it read ``MODEL_URL`` when given
    none, and accept the URL given here as well.)
    """
    mode = str(job.model_load_mode or FILE_LOAD_MODE).lower()
    if path and os.path.exists(path):
        job.estimator.load(path)
        return True
    if mode == FILE_LOAD_MODE:
        return False
    backend = job.estimator
    # the user's estimator itself (built from its class if need be): the backend's ``load``
    # only opens paths that exist
    instance = getattr(backend, "_instance", None)
    est = instance() if callable(instance) else backend
    load = getattr(est, "load", None)
    if not callable(load):
        return False
    call_load(load, path)
    if hasattr(backend, "has_load"):
        backend.has_load = True
    return True


class CloudBreaker:
    """When the cloud fails, stop asking it for a while: a partitioned edge otherwise pays a
    connect (and DNS) timeout for every hard example. After a failure the cloud is skipped for
    ``retry`` seconds (doubling up to ``max_retry``); then one call probes it, and a success
    closes the breaker. ``clock`` is injectable for tests."""

    def __init__(self, retry: float = 5.0, max_retry: float = 60.0, clock: Any = time.monotonic) -> None:
        self.retry = self.initial = max(0.0, retry)
        self.max_retry = max(retry, max_retry)
        self.clock = clock
        self.open_until: float | None = None

    def allow(self) -> bool:
        """Whether to call the cloud now."""
        return self.open_until is None or self.clock() >= self.open_until

    def failed(self) -> float:
        """Record a failed call; returns how long the cloud is now skipped."""
        wait = self.retry
        self.open_until = self.clock() + wait
        self.retry = min(self.retry * 2, self.max_retry) if self.retry else 0.0
        return wait

    def succeeded(self) -> bool:
        """Record a successful call; True when it closed an open breaker."""
        was_open = self.open_until is not None
        self.open_until, self.retry = None, self.initial
        return was_open


class InferenceReporter(JobReporter):
    """Sedna's ``LCReporter`` for one JointInference (see :class:`JobReporter`), which also
    counts hard examples the cloud could not answer (``cloudFailureNumber``)."""

    def __init__(self, job: JobBase, period: float) -> None:
        super().__init__(job, period, name="ji-lc-reporter")
        self.cloud_failure_number = 0

    def update_for_cloud_failure(self) -> None:
        with self.lock:
            self.cloud_failure_number += 1

    def owner_info(self) -> dict[str, Any]:
        info = super().owner_info()
        with self.lock:
            # our addition: hard examples the cloud could not answer (edge result served)
            info["cloudFailureNumber"] = self.cloud_failure_number
        return info


class JointInference(JobBase):
    """Edge worker of a JointInferenceService.

    :param estimator: the little model.
    :param hard_example_mining: ``{"method": alias, "param": {...}}`` (default: ``HEM_NAME`` /
        ``HEM_PARAMETERS``), or a ready filter callable.

    When the cloud fails, hard examples are answered at the edge without calling it for
    ``CLOUD_RETRY_SECONDS`` (default 5, doubling up to ``CLOUD_RETRY_MAX_SECONDS``, 60), then one
    call probes it again
    (:class:`CloudBreaker`); a partitioned edge keeps its pace, and collaboration resumes on its own.

    The cloud's answer comes back as a :class:`CloudResult`: a list (Sedna 0.4+) that also
    reads as the response dict (``cloud_result["result"]``, Sedna 0.3 and HEAD's
    ``mining-then-inference``). The counts of the last ``LC_PERIOD`` are reported when the
    process exits, so a worker that infers a finite stream reports all of it.
    """

    job_kind_default = K8sResourceKind.JOINT_INFERENCE_SERVICE

    def __init__(self, estimator: Any = None, hard_example_mining: Any = None, config: dict[str, Any] | None = None):
        super().__init__(estimator=estimator, config=config)
        self.job_kind = K8sResourceKind.JOINT_INFERENCE_SERVICE
        self.local_ip = get_host_ip()
        self.remote_ip = self.get_parameters("BIG_MODEL_IP", self.local_ip)
        self.port = int(self.get_parameters("BIG_MODEL_PORT", "5000"))
        self.mining_mode = str(self.get_parameters("MINING_MODE", INFERENCE_THEN_MINING)).lower()
        self.cloud_timeout = float(self.get_parameters("BIG_MODEL_TIMEOUT", "30"))
        self.breaker = CloudBreaker(
            float(self.get_parameters("CLOUD_RETRY_SECONDS", "5")),
            float(self.get_parameters("CLOUD_RETRY_MAX_SECONDS", "60")),
        )
        self.cloud = ModelClient(
            service_name=self.job_name, host=self.remote_ip, port=self.port, timeout=self.cloud_timeout
        )
        self.lc_reporter = InferenceReporter(self, float(self.get_parameters("LC_PERIOD", "30")))
        self.lc_reporter.start()
        if not hard_example_mining:
            hard_example_mining = self.get_hem_algorithm_from_config()
        self.hard_example_mining_algorithm = self.build_hem(hard_example_mining)
        self._loaded = False
        self._load_lock = threading.Lock()

    def _ensure_loaded(self) -> None:
        """Load ``MODEL_URL`` into the edge model once (when it exists, or in a non-file
        ``MODEL_LOAD_MODE``)."""
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            if callable(self.estimator) and isinstance(self.estimator, type):
                self.estimator = self.estimator()
            if not getattr(self.estimator, "has_load", False):
                load_model(self, self.model_path)
            self._loaded = True

    def _cloud_inference(self, data: Any, **kwargs: Any) -> tuple[bool, Any]:
        """The cloud's answer, or (False, None) when it failed or is being skipped after a
        failure (see :class:`CloudBreaker`); either way the hard example counts as a cloud
        failure (the edge result is served)."""
        if not self.breaker.allow():
            self.lc_reporter.update_for_cloud_failure()
            return False, None
        try:
            response = self.cloud.inference(_as_json_data(data), **kwargs)
        except Exception as err:
            wait = self.breaker.failed()
            self.log.error("cloud inference failed, serving edge results for %.0fs: %s", wait, err)
            self.lc_reporter.update_for_cloud_failure()
            return False, None
        if self.breaker.succeeded():
            self.log.warning("cloud reachable again: hard examples go to the cloud")
        return True, as_cloud_result(response.get("result"))

    def _is_hard(self, result: Any) -> bool:
        if self.hard_example_mining_algorithm is None:
            return False
        return bool(self.hard_example_mining_algorithm(result))

    def _count(self, is_hard: bool) -> None:
        if is_hard:
            self.lc_reporter.update_for_collaboration_inference()
        else:
            self.lc_reporter.update_for_edge_inference()

    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> list[Any]:
        """Infer ``data``; returns ``[is_hard_example, result, edge_result, cloud_result]``.

        ``inference-then-mining`` (default): the edge model predicts, HEM judges its result,
        hard examples are re-inferred in the cloud. ``mining-then-inference``: HEM judges the
        input first; hard inputs go straight to the cloud and the edge model is skipped for them.
        If the cloud fails, the edge result is served (computed on demand) and the failure counted.
        """
        self._ensure_loaded()
        callback = resolve_callback(post_process)
        estimator = self.estimator  # one read: a hot update swaps the attribute atomically
        cloud_result = None
        edge_result = None
        res: Any = None
        if self.mining_mode == MINING_THEN_INFERENCE:
            is_hard = self._is_hard(data)
            self._count(is_hard)
            if is_hard:
                ok, cloud_result = self._cloud_inference(data, **kwargs)
                if ok:
                    res = cloud_result
            if res is None:
                edge_result = estimator.predict(data, **kwargs)
                res = deepcopy(edge_result)
                if callback:
                    res = callback(res)
            return [is_hard, res, edge_result, cloud_result]

        edge_result = estimator.predict(data, **kwargs)
        res = deepcopy(edge_result)
        if callback:
            res = callback(res)
        is_hard = self._is_hard(res)
        self._count(is_hard)
        if is_hard:
            ok, cloud_result = self._cloud_inference(data, **kwargs)
            if ok:
                res = cloud_result
        return [is_hard, res, edge_result, cloud_result]


class BigModelService(JobBase):
    """Cloud worker of a JointInferenceService: serves the big model over REST.

    Settings: ``BIG_MODEL_BIND_IP`` (default: the host IP), ``BIG_MODEL_BIND_PORT`` (5000),
    ``BIG_MODEL_BATCHING`` (``true`` enables dynamic batching), ``BIG_MODEL_MAX_BATCH_SIZE`` (32),
    ``BIG_MODEL_MAX_WAIT_MS`` (5). ``MODEL_LOAD_MODE`` (Sedna HEAD): ``file`` (default) needs
    ``MODEL_URL`` to exist; any other mode (``hf``, ``http``, ``https``...) hands the URL to the
    estimator's ``load`` as is (see :func:`load_model`).
    """

    job_kind_default = K8sResourceKind.JOINT_INFERENCE_SERVICE

    def __init__(
        self,
        estimator: Any = None,
        config: dict[str, Any] | None = None,
        batching: bool | None = None,
        max_batch_size: int | None = None,
        max_wait_ms: float | None = None,
    ) -> None:
        super().__init__(estimator=estimator, config=config)
        self.job_kind = K8sResourceKind.JOINT_INFERENCE_SERVICE
        self.local_ip = self.get_parameters("BIG_MODEL_BIND_IP", get_host_ip())
        self.port = int(self.get_parameters("BIG_MODEL_BIND_PORT", "5000"))
        if batching is None:
            batching = str(self.get_parameters("BIG_MODEL_BATCHING", "false")).lower() == "true"
        self.batching = batching
        self.max_batch_size = int(max_batch_size or self.get_parameters("BIG_MODEL_MAX_BATCH_SIZE", "32"))
        self.max_wait_ms = float(
            max_wait_ms if max_wait_ms is not None else self.get_parameters("BIG_MODEL_MAX_WAIT_MS", "5")
        )
        self.server: InferenceServer | None = None

    def _prepare(self) -> InferenceServer:
        if callable(self.estimator) and isinstance(self.estimator, type):
            self.estimator = self.estimator()
        path = self.model_path
        if not load_model(self, path):
            # file mode (the default); other MODEL_LOAD_MODEs let the estimator resolve the URL
            raise FileNotFoundError(f"big model {path!r} not found (MODEL_URL)")
        self.server = InferenceServer(
            model=self,
            servername=self.job_name,
            host=self.local_ip,
            http_port=self.port,
            batching=self.batching,
            max_batch_size=self.max_batch_size,
            max_wait_ms=self.max_wait_ms,
        )
        return self.server

    def start(self) -> None:
        """Load ``MODEL_URL`` and serve until stopped (blocks, like Sedna)."""
        self._prepare().start()

    def start_background(self) -> InferenceServer:
        """Load and serve in a thread; returns the running server (``.stop()`` ends it)."""
        return self._prepare().start_background()  # type: ignore[return-value]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Not used by the service; kept for Sedna's interface."""
        raise NotImplementedError("the big model service does not train")

    def inference(self, data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Predict with the big model (called by the REST service)."""
        callback = resolve_callback(post_process)
        res = self.estimator.predict(data, **kwargs)
        return callback(res) if callback else res


class TSBigModelService(BigModelService):
    """Sedna's newer name of the big-model service; same behaviour."""
