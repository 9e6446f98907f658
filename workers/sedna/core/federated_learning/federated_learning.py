"""Federated learning training worker (Sedna's ``FederatedLearning``)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed

from sedna.common.config import Context
from sedna.core.base import JobBase, K8sResourceKind, K8sResourceKindStatus, resolve_callback
from sedna.service.client import AggregationClient

__all__ = ["FederatedLearning"]


class FederatedLearning(JobBase):
    """Trains locally and exchanges weights with the aggregation server each round.

    Settings: ``AGG_PROTOCOL`` (ws), ``AGG_IP`` (127.0.0.1), ``AGG_PORT`` (7363),
    ``CONNECT_TIMEOUT`` (300 s, connection retried with backoff until then),
    ``AGG_ENCODING`` (``json``; ``binary`` negotiates numpy buffers), ``AGG_WS_MAX_SIZE``
    (frame limit in bytes; default none).

    Unlike Sedna, its reports carry ``ownerKind: federatedlearningjob`` so the LC records them.
    """

    job_kind_default = K8sResourceKind.FEDERATED_LEARNING_JOB

    def __init__(self, estimator: Any, aggregation: str = "FedAvg", encoding: str | None = None) -> None:
        protocol = Context.get_parameters("AGG_PROTOCOL", "ws")
        agg_ip = Context.get_parameters("AGG_IP", "127.0.0.1")
        agg_port = int(Context.get_parameters("AGG_PORT", "7363"))
        super().__init__(estimator=estimator, config={"agg_uri": f"{protocol}://{agg_ip}:{agg_port}/{aggregation}"})
        self.job_kind = K8sResourceKind.FEDERATED_LEARNING_JOB
        self.agg_uri = f"{protocol}://{agg_ip}:{agg_port}/{aggregation}"
        self.aggregation_name = aggregation
        self.encoding = encoding or str(Context.get_parameters("AGG_ENCODING", "json")).lower()
        max_size = Context.get_parameters("AGG_WS_MAX_SIZE")
        self.ws_max_size = int(max_size) if max_size else None
        self.connect_timeout = float(Context.get_parameters("CONNECT_TIMEOUT", "300"))
        self.recv_timeout = float(Context.get_parameters("AGG_RECV_TIMEOUT", "0")) or None
        self.node: AggregationClient | None = None
        self.register(timeout=self.connect_timeout)

    def register(self, timeout: float = 300) -> None:
        """Connect to the aggregator (retrying until ``timeout``) and subscribe."""
        self.log.info("%s connects to %s", self.worker_name, self.agg_uri)
        self.node = AggregationClient(
            url=self.agg_uri,
            client_id=self.worker_name,
            ping_timeout=timeout,
            max_size=self.ws_max_size,
            encoding=self.encoding,
        )
        if callable(self.estimator) and isinstance(self.estimator, type):
            self.estimator = self.estimator()

    def train(self, train_data: Any, valid_data: Any = None, post_process: Any = None, **kwargs: Any) -> Any:
        """Run rounds until the aggregator says ``exit_flag == "ok"``; returns the estimator
        (or ``post_process(estimator)``)."""
        assert self.node is not None
        callback = resolve_callback(post_process)
        num_samples = len(train_data)
        start = time.time()
        round_number = 0
        send_needed = True
        update: dict[str, Any] | None = None
        while True:
            if send_needed:
                round_number += 1
                self.log.info("federated learning round %d starts", round_number)
                self.estimator.train(train_data=train_data, valid_data=valid_data, **kwargs)
                weights = [np.asarray(w) for w in self.estimator.get_weights()]
                update = {"num_samples": num_samples, "weights": weights}
                self._exchange(lambda u=update: self.node.send(u, msg_type="update_weight", job_name=self.job_name))
            received = self._exchange(
                lambda: self.node.recv(wait_data_type="recv_weight", timeout=self.recv_timeout), update
            )
            if not received:
                send_needed = False
                continue
            send_needed = True
            data = received.get("data", {})
            exit_flag = data.get("exit_flag", "")
            server_round = int(data.get("round_number", round_number))
            self.node.last_round = server_round
            total = int(data.get("total_sample", 0))
            self.estimator.set_weights(data.get("weights"))
            task_info = {
                "currentRound": server_round,
                "sampleCount": total,
                "startTime": str(start),
                "updateTime": str(time.time()),
            }
            results = self._model_results()
            if exit_flag == "ok":
                self.report_task_info(task_info, K8sResourceKindStatus.COMPLETED, results)
                self.log.info("federated learning of %s finished after round %d", self.worker_name, server_round)
                self.node.close()
                return callback(self.estimator) if callback else self.estimator
            self.report_task_info(task_info, K8sResourceKindStatus.RUNNING, results)

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

    def _model_results(self) -> list[Any] | None:
        """Save the model when a model path is configured; returns ``model_info`` for the report."""
        if not self.model_path:
            return None
        try:
            paths = self.estimator.save(self.model_path)
            return self.estimator.model_info(paths, relpath=self.config.data_path_prefix)
        except Exception as err:  # saving is best effort; the round result is already applied
            self.log.warning("could not save the round model: %s", err)
            return None
