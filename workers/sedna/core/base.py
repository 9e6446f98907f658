"""Common base of every paradigm: identity, LC reports and hot model update.

Differences from Sedna, on purpose:

* ``job_name`` is ``JOB_NAME`` when it is set, else ``SERVICE_NAME``: joint-inference workers
  only get ``SERVICE_NAME``, and Sedna's ``JOB_NAME`` default (``"sedna"``) made them report a
  wrong ``ownerName``.
* every paradigm sets its ``job_kind`` (Sedna's federated learning reported ``default``, which the
  LC drops).
* a hot model update loads the new model into a copy of the estimator and swaps it in under a
  lock, so a request never sees a half-loaded model.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import BaseConfig, Context
from sedna.common.constant import K8sResourceKind, K8sResourceKindStatus
from sedna.common.utils import parse_param
from sedna.service._log import LOGGER
from sedna.service.client import LCClient

__all__ = ["JobBase", "K8sResourceKind", "K8sResourceKindStatus", "ModelLoadingThread", "resolve_callback"]


def resolve_callback(post_process: Any) -> Callable[..., Any] | None:
    """A callable ``post_process`` is used as is; a string names a registered CALLBACK."""
    if post_process is None:
        return None
    if callable(post_process):
        return post_process
    return ClassFactory.get_cls(ClassType.CALLBACK, post_process)


def _env_job_name() -> str:
    override = BaseConfig._overrides.get("job_name")
    if override:
        return str(override)
    job = os.environ.get("JOB_NAME")
    if job:
        return job
    service = os.environ.get("SERVICE_NAME")
    if service:
        return service
    return str(BaseConfig.job_name or BaseConfig.service_name or "sedna")


class JobBase:
    """Base class of the paradigms (Sedna's ``sedna.core.base.JobBase``).

    :param estimator: the user's estimator (class or instance) with Sedna's interface.
    :param config: extra settings overlaid on :class:`BaseConfig`.
    """

    parameters = Context
    job_kind_default = K8sResourceKind.DEFAULT

    def __init__(self, estimator: Any, config: dict[str, Any] | None = None) -> None:
        self.config = BaseConfig
        if config:
            BaseConfig.from_json(config)
        self.log = LOGGER
        self.estimator = self._make_backend(estimator)
        self.job_kind = self.job_kind_default
        self.job_name = _env_job_name()
        self.worker_name = str(BaseConfig.worker_name or self.job_name)
        self.namespace = str(BaseConfig.namespace or self.job_name)
        self.lc_server = str(BaseConfig.lc_server)
        self.model_load_mode = self.get_parameters("MODEL_LOAD_MODE", "file")
        self.estimator_lock = threading.RLock()
        self.hot_update_thread: ModelLoadingThread | None = None
        if str(self.get_parameters("MODEL_HOT_UPDATE", "false")).lower() == "true":
            self.hot_update_thread = ModelLoadingThread(self)
            self.hot_update_thread.start()

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _make_backend(estimator: Any) -> Any:
        from sedna.backend import set_backend

        return set_backend(estimator=estimator, config=BaseConfig)

    @property
    def model_path(self) -> str | None:
        """Where the model lives: ``MODEL_URL`` (a file or a directory)."""
        return BaseConfig.model_url

    def get_parameters(self, param: str, default: Any = None) -> Any:
        return self.parameters.get_parameters(param=param, default=default)

    @classmethod
    def get_hem_algorithm_from_config(cls, **param: Any) -> dict[str, Any]:
        """``{"method", "param"}`` from ``HEM_NAME``/``HEM_PARAMETERS``; ``param`` overrides them."""
        info = Context.get_algorithm_from_api("HEM", **param)
        return info or {}

    @staticmethod
    def build_hem(hard_example_mining: Any) -> Callable[[Any], bool] | None:
        """Instantiate a HEM filter from ``{"method", "param"}`` (or accept a ready callable)."""
        if not hard_example_mining:
            return None
        if callable(hard_example_mining):
            return hard_example_mining
        try:
            import sedna.algorithms.hard_example_mining  # noqa: F401 - registers the filters
        except ImportError:
            pass
        method = hard_example_mining.get("method") or "IBT"
        params = parse_param(hard_example_mining.get("param"), "hard_example_mining.param")
        if isinstance(method, type):  # Sedna 0.4+ lets ``method`` be the class itself
            return method(**params)
        return ClassFactory.get_cls(ClassType.HEM, method)(**params)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def inference(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    # -- reports -----------------------------------------------------------------------------
    def build_report(
        self, task_info: dict[str, Any] | None, status: str, results: list[Any] | None = None, kind: str = "train"
    ) -> dict[str, Any]:
        """Sedna's report body ``{name, namespace, ownerName, ownerKind, kind, status, results?, ownerInfo?}``."""
        message: dict[str, Any] = {
            "name": self.worker_name,
            "namespace": self.namespace,
            "ownerName": self.job_name,
            "ownerKind": self.job_kind,
            "kind": kind,
            "status": status,
        }
        if results:
            message["results"] = results
        if task_info:
            message["ownerInfo"] = task_info
        return message

    def report_task_info(
        self, task_info: dict[str, Any] | None, status: str, results: list[Any] | None = None, kind: str = "train"
    ) -> bool:
        """Post a report to ``{LC_SERVER}/sedna/workers/{WORKER_NAME}/info`` (buffered if the LC is down)."""
        message = self.build_report(task_info, status, results, kind)
        try:
            return LCClient.send(str(BaseConfig.lc_server), self.worker_name, message)
        except Exception as err:  # a report must never kill the worker
            self.log.error("report to LC failed: %s", err)
            return False

    # -- hot update --------------------------------------------------------------------------
    def swap_estimator(self, new_estimator: Any) -> None:
        with self.estimator_lock:
            self.estimator = new_estimator
            # the swapped-in model is loaded: paradigms must not re-load MODEL_URL over it
            self._loaded = True


class ModelLoadingThread(threading.Thread):
    """Polls ``MODEL_HOT_UPDATE_CONFIG`` (``{"model_config": {"model_path", "model_update_time"}}``)
    every ``MODEL_POLL_PERIOD_SECONDS`` and swaps in the new model when ``model_update_time`` changes.
    """

    def __init__(self, job: JobBase, period: float | None = None, config_path: str | None = None) -> None:
        super().__init__(name="model-hot-update", daemon=True)
        self.job = job
        self.period = float(period or Context.get_parameters("MODEL_POLL_PERIOD_SECONDS", "60"))
        self.config_path = config_path or Context.get_parameters(
            "MODEL_HOT_UPDATE_CONFIG", "/model-hot-update/model_config.json"
        )
        self.version: str | None = None
        self.stop_event = threading.Event()
        self.reloads = 0

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        while not self.stop_event.wait(self.period):
            try:
                self.check_once()
            except Exception as err:  # keep polling: the next period may succeed
                LOGGER.error("hot update check failed: %s", err)

    def _read_config(self) -> dict[str, Any] | None:
        path = self.config_path
        if "://" in path:
            from sedna.common.file_ops import FileOps

            path = FileOps.download(path)
        if not path or not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as fh:
            return json.load(fh).get("model_config") or None

    def resolve_model_path(self, model_path: str) -> str:
        """``model_path`` when it exists, else the file of that name beside the config file.

        The LC writes the path as the container sees it (``/model-hot-update/<file>``); where
        the hot-update directory is mounted elsewhere (a local run maps it into the state
        directory) that path does not exist, but the model was copied next to the config.
        """
        if os.path.exists(model_path) or "://" in self.config_path:
            return model_path
        name = os.path.basename(model_path.rstrip("/"))
        if not name:
            return model_path
        beside = os.path.join(os.path.dirname(os.path.abspath(self.config_path)), name)
        return beside if os.path.exists(beside) else model_path

    def check_once(self) -> bool:
        """One poll; True when a new model was swapped in."""
        conf = self._read_config()
        if not conf:
            return False
        version = str(conf.get("model_update_time", ""))
        model_path = conf.get("model_path")
        if not model_path or version == self.version:
            return False
        self.version = version
        try:
            if "://" in model_path:
                from sedna.common.file_ops import FileOps

                model_path = FileOps.download(model_path)
            model_path = self.resolve_model_path(str(model_path))
            if not os.path.exists(model_path):
                raise FileNotFoundError(model_path)
            # load into a copy first: requests keep using the old model until the swap
            new_estimator = copy.deepcopy(self.job.estimator)
            new_estimator.load(model_path)
        except Exception as err:
            LOGGER.error("hot update to %s failed: %s", model_path, err)
            self.job.report_task_info(None, K8sResourceKindStatus.FAILED, kind="deploy")
            return False
        self.job.swap_estimator(new_estimator)
        LOGGER.info("hot update: serving %s (version %s)", model_path, version)
        ext = os.path.splitext(str(model_path))[1].lstrip(".")
        self.job.report_task_info(
            {"modelUpdateTime": version},
            K8sResourceKindStatus.COMPLETED,
            [{"format": ext, "url": str(model_path)}],
            kind="deploy",
        )
        self.reloads += 1
        return True


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Small polling helper used by the services (and tests)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
