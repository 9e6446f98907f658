"""Joint inference: an edge model answers, hard examples go to the big model in the cloud."""

from __future__ import annotations

import os
import socket
import threading
import time
from copy import deepcopy
from typing import Any

import numpy as np

from sedna.core.base import JobBase, K8sResourceKind, resolve_callback
from sedna.service.client import ModelClient
from sedna.service.server.inference import InferenceServer

__all__ = ["JointInference", "BigModelService", "TSBigModelService", "InferenceReporter", "CloudBreaker"]

MINING_THEN_INFERENCE = "mining-then-inference"
INFERENCE_THEN_MINING = "inference-then-mining"


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


class InferenceReporter(threading.Thread):
    """Every ``LC_PERIOD`` seconds, reports inference counters when there was new activity."""

    def __init__(self, job: JobBase, period: float) -> None:
        super().__init__(name="ji-lc-reporter", daemon=True)
        self.job = job
        self.period = period
        self.lock = threading.Lock()
        self.start_time = time.time()
        self.inference_number = 0
        self.hard_example_number = 0
        self.cloud_failure_number = 0
        self._last_reported = 0
        self.stop_event = threading.Event()

    def update_for_edge_inference(self) -> None:
        with self.lock:
            self.inference_number += 1

    def update_for_collaboration_inference(self) -> None:
        with self.lock:
            self.hard_example_number += 1

    def update_for_cloud_failure(self) -> None:
        with self.lock:
            self.cloud_failure_number += 1

    def owner_info(self) -> dict[str, Any]:
        with self.lock:
            ratio = self.hard_example_number / self.inference_number if self.inference_number else 0.0
            return {
                "startTime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.start_time)),
                "updateTime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()),
                "inferenceNumber": self.inference_number,
                "hardExampleNumber": self.hard_example_number,
                "uploadCloudRatio": ratio,
                # our addition: hard examples the cloud could not answer (edge result served)
                "cloudFailureNumber": self.cloud_failure_number,
            }

    def report_once(self, force: bool = False) -> bool:
        """Report when something happened since the last report (or ``force``)."""
        with self.lock:
            current = self.inference_number
        if current == self._last_reported and not force:
            return False
        self._last_reported = current
        self.job.report_task_info(self.owner_info(), "running", kind="inference")
        return True

    def run(self) -> None:
        while not self.stop_event.wait(self.period):
            try:
                self.report_once()
            except Exception as err:
                self.job.log.error("inference report failed: %s", err)

    def stop(self) -> None:
        self.stop_event.set()


class JointInference(JobBase):
    """Edge worker of a JointInferenceService.

    :param estimator: the little model.
    :param hard_example_mining: ``{"method": alias, "param": {...}}`` (default: ``HEM_NAME`` /
        ``HEM_PARAMETERS``), or a ready filter callable.

    When the cloud fails, hard examples are answered at the edge without calling it for
    ``CLOUD_RETRY_SECONDS`` (default 5, doubling up to ``CLOUD_RETRY_MAX_SECONDS``, 60), then one
    call probes it again
    (:class:`CloudBreaker`); a partitioned edge keeps its pace, and collaboration resumes on its own.
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
        """Load ``MODEL_URL`` into the edge model once (when it exists)."""
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            if callable(self.estimator) and isinstance(self.estimator, type):
                self.estimator = self.estimator()
            path = self.model_path
            if path and os.path.exists(path) and not getattr(self.estimator, "has_load", False):
                self.estimator.load(path)
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
        return True, response.get("result")

    def _is_hard(self, result: Any) -> bool:
        if self.hard_example_mining_algorithm is None:
            return False
        return bool(self.hard_example_mining_algorithm(result))

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
        self.lc_reporter.update_for_edge_inference()
        cloud_result = None
        edge_result = None
        res: Any = None
        if self.mining_mode == MINING_THEN_INFERENCE:
            is_hard = self._is_hard(data)
            if is_hard:
                ok, cloud_result = self._cloud_inference(data, **kwargs)
                self.lc_reporter.update_for_collaboration_inference()
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
        if is_hard:
            ok, cloud_result = self._cloud_inference(data, **kwargs)
            self.lc_reporter.update_for_collaboration_inference()
            if ok:
                res = cloud_result
        return [is_hard, res, edge_result, cloud_result]


class BigModelService(JobBase):
    """Cloud worker of a JointInferenceService: serves the big model over REST.

    Settings: ``BIG_MODEL_BIND_IP`` (default: the host IP), ``BIG_MODEL_BIND_PORT`` (5000),
    ``BIG_MODEL_BATCHING`` (``true`` enables dynamic batching), ``BIG_MODEL_MAX_BATCH_SIZE`` (32),
    ``BIG_MODEL_MAX_WAIT_MS`` (5).
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
        if not path or not os.path.exists(path):
            raise FileNotFoundError(f"big model {path!r} not found (MODEL_URL)")
        self.estimator.load(path)
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
