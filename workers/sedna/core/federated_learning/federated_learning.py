"""Federated learning training worker (Sedna's ``FederatedLearning``).

Every released calling convention works:

* Sedna 0.4+: ``FederatedLearning(estimator, aggregation="FedAvg")`` connects at once;
* Sedna 0.3: the same constructor, then ``register()`` (here harmless: it keeps the open
  connection); a pre-release spelling ``connect()`` is accepted too;
* ``train(train_data, valid_data=None, post_process=None, **kwargs)`` runs the rounds; the
  keyword arguments reach the estimator's ``train`` (filtered to what it accepts).

Fixed against Sedna: the sample count (Sedna's ``len(train_data)`` is 2 for an ``(x, y)``
pair, so FedAvg weighed every trainer the same), per-trainer model files (see
:mod:`.model_files`), the aggregated model's metrics in the report, and reports the LC keeps
(``ownerKind: federatedlearningjob``; Sedna sent ``default``, which the LC drops).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed

from sedna.algorithms.transmitter import S3Transmitter, WSTransmitter, s3_store_from_env
from sedna.common.config import BaseConfig, Context
from sedna.core.base import JobBase, K8sResourceKind, K8sResourceKindStatus, resolve_callback
from sedna.core.federated_learning.model_files import publish_model, trainer_model_path, trainer_tag
from sedna.core.federated_learning.samples import count_samples
from sedna.service.client import AggregationClient

__all__ = ["FederatedLearning", "transmitter_from_config"]


def transmitter_from_config() -> WSTransmitter | S3Transmitter:
    """``TRANSMITTER`` (``ws``, the default, or ``s3``) as Sedna's transmitter object; the S3
    one is built from ``S3_ENDPOINT_URL``, ``ACCESS_KEY_ID``, ``SECRET_ACCESS_KEY`` and
    ``AGG_DATA_PATH``."""
    kind = str(BaseConfig.transmitter or "ws").strip().lower()
    if kind == "s3":
        return S3Transmitter(
            s3_endpoint_url=BaseConfig.s3_endpoint_url,
            access_key=BaseConfig.access_key_id,
            secret_key=BaseConfig.secret_access_key,
            transmitter_url=BaseConfig.agg_data_path,
        )
    if kind != "ws":
        raise ValueError(f"TRANSMITTER must be 'ws' or 's3', got {kind!r}")
    return WSTransmitter()


def _aggregation_name(aggregation: Any) -> str:
    """The route name of an aggregation given as a name, a ``{"method"}`` dict or an object."""
    if aggregation is None or aggregation == "":
        return str(Context.get_parameters("AGG_NAME", "FedAvg"))
    if isinstance(aggregation, str):
        return aggregation
    if isinstance(aggregation, dict):
        return str(aggregation.get("method") or "FedAvg")
    cls = aggregation if isinstance(aggregation, type) else type(aggregation)
    return cls.__name__


def _timestamp(seconds: float) -> str:
    """Sedna's report time format (local time), which the round conditions quote."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _json_safe(value: Any) -> Any:
    """Numbers and containers the LC report can carry (numpy scalars/arrays become lists)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _as_metrics(value: Any) -> Any:
    """A report's metrics: a dict or list as is, a single number as ``{"score": n}``."""
    if value is None:
        return None
    if isinstance(value, int | float | np.generic) and not isinstance(value, bool):
        return {"score": float(value)}
    return _json_safe(value)


class FederatedLearning(JobBase):
    """Trains locally and exchanges weights with the aggregation server each round.

    :param estimator: the user's estimator (class or instance) with ``train``,
        ``get_weights`` and ``set_weights`` (and ``evaluate``/``save`` for metrics and files).
    :param aggregation: the aggregation's name (Sedna: a registered ``FL_AGG`` name); it names
        the aggregator's route ``/<aggregation>``. The server decides the strategy itself.
    :param encoding: ``json`` (Sedna's) or ``binary`` (numpy buffers, negotiated).

    Settings: ``AGG_PROTOCOL`` (ws), ``AGG_IP`` (127.0.0.1), ``AGG_PORT`` (7363),
    ``CONNECT_TIMEOUT`` (300 s, connection retried with backoff until then),
    ``AGG_ENCODING`` (``json``; ``binary`` negotiates numpy buffers), ``AGG_WS_MAX_SIZE``
    (frame limit in bytes; default none), ``AGG_RECV_TIMEOUT`` (seconds a round may take; none),
    ``TRANSMITTER`` (``s3``: weights go through ``AGG_DATA_PATH`` as ``.npz`` objects and the
    websocket carries their URLs; see :mod:`sedna.algorithms.transmitter`).
    """

    job_kind_default = K8sResourceKind.FEDERATED_LEARNING_JOB

    def __init__(self, estimator: Any, aggregation: Any = "FedAvg", encoding: str | None = None) -> None:
        protocol = Context.get_parameters("AGG_PROTOCOL", "ws")
        agg_ip = Context.get_parameters("AGG_IP", "127.0.0.1")
        agg_port = int(Context.get_parameters("AGG_PORT", "7363"))
        name = _aggregation_name(aggregation)
        agg_uri = f"{protocol}://{agg_ip}:{agg_port}/{name}"
        super().__init__(estimator=estimator, config={"agg_uri": agg_uri})
        self.job_kind = K8sResourceKind.FEDERATED_LEARNING_JOB
        self.agg_uri = agg_uri
        self.aggregation_name = name
        self.encoding = encoding or str(Context.get_parameters("AGG_ENCODING", "json")).lower()
        max_size = Context.get_parameters("AGG_WS_MAX_SIZE")
        self.ws_max_size = int(max_size) if max_size else None
        self.connect_timeout = float(Context.get_parameters("CONNECT_TIMEOUT", "300"))
        self.recv_timeout = float(Context.get_parameters("AGG_RECV_TIMEOUT", "0")) or None
        self.node: AggregationClient | None = None
        self.trainer_tag = trainer_tag(os.environ.get("DATASET_NAME"), self.worker_name)
        self.register(timeout=self.connect_timeout)

    # -- connection --------------------------------------------------------------------------
    def register(self, timeout: float = 300) -> None:
        """Connect to the aggregator (retrying until ``timeout``) and subscribe.

        Sedna 0.3 scripts call this themselves after the constructor; since the constructor
        already connected (0.4+), a second call keeps the open connection instead of
        subscribing twice.
        """
        if self.node is not None and getattr(self.node, "ws", None) is not None:
            self.log.info("%s is already connected to %s", self.worker_name, self.agg_uri)
            return
        self.log.info("%s connects to %s", self.worker_name, self.agg_uri)
        self.node = AggregationClient(
            url=self.agg_uri,
            client_id=self.worker_name,
            ping_timeout=timeout,
            max_size=self.ws_max_size,
            encoding=self.encoding,
            weight_store=s3_store_from_env(self.job_name),
        )

    connect = register  # a pre-release Sedna spelling of register()

    @classmethod
    def get_transmitter_from_config(cls) -> WSTransmitter | S3Transmitter:
        """The transmitter ``TRANSMITTER`` names (Sedna 0.4+'s helper)."""
        return transmitter_from_config()

    # -- training ----------------------------------------------------------------------------
    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Run rounds until the aggregator says ``exit_flag == "ok"``; returns the estimator
        (or ``post_process(estimator)``).

        Each round: train locally, send ``{"num_samples", "weights"}``, take the aggregated
        weights, evaluate them on ``valid_data`` when given, save this trainer's model and
        report ``ownerInfo {currentRound, sampleCount, startTime, updateTime}`` with the
        model's metrics in ``results``.
        """
        if self.node is None:
            self.register(timeout=self.connect_timeout)
        node = self.node
        assert node is not None
        callback = resolve_callback(post_process)
        num_samples = count_samples(train_data)
        self.log.info("%s trains on %d samples", self.worker_name, num_samples)
        start = time.time()
        round_number = 0
        send_needed = True
        update: dict[str, Any] | None = None
        train_result: Any = None
        while True:
            if send_needed:
                round_number += 1
                self.log.info("federated learning round %d starts", round_number)
                train_result = self.estimator.train(train_data=train_data, valid_data=valid_data, **kwargs)
                weights = [np.asarray(w) for w in self.estimator.get_weights()]
                update = {"num_samples": num_samples, "weights": weights}
                self._exchange(lambda u=update: node.send(u, msg_type="update_weight", job_name=self.job_name))
            # a reconnect replaces the socket inside the same client object, so `node` stays valid
            received = self._exchange(
                lambda: node.recv(wait_data_type="recv_weight", timeout=self.recv_timeout), update
            )
            if not received:
                send_needed = False
                continue
            send_needed = True
            if self._apply_round(received, start, train_result, valid_data, kwargs):
                node.close()
                return callback(self.estimator) if callback else self.estimator

    def _apply_round(
        self, received: dict[str, Any], start: float, train_result: Any, valid_data: Any, kwargs: dict[str, Any]
    ) -> bool:
        """Take the round's aggregated weights, evaluate, save and report; True after the last."""
        assert self.node is not None
        data = received.get("data", {})
        finished = data.get("exit_flag", "") == "ok"
        server_round = int(data.get("round_number", 0) or 0)
        self.node.last_round = server_round
        total = int(data.get("total_sample", 0) or 0)
        self.estimator.set_weights(data.get("weights"))
        evaluation = self._evaluate(valid_data, kwargs)
        metrics = _as_metrics(evaluation if evaluation is not None else train_result)
        self.log.info("round %d aggregated over %d samples; metrics %s", server_round, total, metrics)
        task_info = {
            "currentRound": server_round,
            "sampleCount": total,
            "startTime": _timestamp(start),
            "updateTime": _timestamp(time.time()),
        }
        results = self._save_round(metrics, final=finished)
        status = K8sResourceKindStatus.COMPLETED if finished else K8sResourceKindStatus.RUNNING
        self.report_task_info(task_info, status, results)
        if finished:
            self.log.info("federated learning of %s finished after round %d", self.worker_name, server_round)
        return finished

    def _evaluate(self, valid_data: Any, kwargs: dict[str, Any]) -> Any:
        """The aggregated model's metrics on ``valid_data`` (None without data or evaluate)."""
        if valid_data is None:
            return None
        try:
            return self.estimator.evaluate(valid_data, **kwargs)
        except Exception as err:  # metrics are a report detail: never fail the round for them
            self.log.warning("could not evaluate the aggregated model: %s", err)
            return None

    def _exchange(self, call: Any, update: dict[str, Any] | None = None) -> Any:
        """``call()`` on the aggregator connection. When the aggregator went away (a restart, a
        moved pod): connect again, send ``update`` (this round's, when waiting for the round's
        result) again, and retry. Sedna's client fails the worker instead, and the restarted
        worker starts training from zero."""
        assert self.node is not None
        deadline = time.monotonic() + self.connect_timeout
        resend = False
        while True:
            try:
                if resend and update is not None:
                    self.node.send(update, msg_type="update_weight", job_name=self.job_name)
                return call()
            except (ConnectionError, OSError, ConnectionClosed) as err:
                if time.monotonic() > deadline:
                    raise
                self.log.warning("lost the aggregator (%s); reconnecting", err)
                self.node.reconnect()  # retries until CONNECT_TIMEOUT, then raises
                resend = True

    # -- model files -------------------------------------------------------------------------
    @property
    def trainer_model_path(self) -> str | None:
        """This trainer's own model file beside ``MODEL_URL`` (None without ``MODEL_URL``)."""
        if not self.model_path:
            return None
        return trainer_model_path(str(self.model_path), self.trainer_tag)

    def _save_round(self, metrics: Any, final: bool) -> list[Any] | None:
        """Save this trainer's model (and, after the last round, publish it to ``MODEL_URL``);
        returns ``model_info`` for the report (None when nothing could be saved)."""
        own = self.trainer_model_path
        if not own:
            return None
        try:
            saved = self._save_to(own)
            reported = publish_model(saved, str(self.model_path)) if final else saved
        except Exception as err:  # saving is best effort; the round result is already applied
            self.log.warning("could not save the round model to %s: %s", own, err)
            if not final:
                return None
            try:  # the Model's path must still get the aggregated model (Sedna's only file)
                reported = self._save_to(str(self.model_path))
            except Exception as err2:
                self.log.warning("could not save the aggregated model to %s: %s", self.model_path, err2)
                return None
        return self.estimator.model_info(reported, relpath=self.config.data_path_prefix, result=metrics)

    def _save_to(self, path: str) -> str:
        """Save through the backend with ``path`` as its save location."""
        backend = self.estimator
        previous = getattr(backend, "model_save_path", None)
        backend.model_save_path = path
        try:
            return str(backend.save())
        finally:
            backend.model_save_path = previous
