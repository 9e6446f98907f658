"""Handing a ``FederatedLearningV2``/``AggregationServerV2`` job to the Plato framework.

Only the modes this SDK cannot run itself go here (MistNet's split learning; custom Plato
datasources, trainers or algorithms). Without the ``plato`` package they raise
:class:`PlatoRequiredError` naming it. With it, Plato's global config is filled from the V2
objects as Sedna documents: ``data.parameters`` (or the customized trainset/testset),
``estimator.model`` + ``hyperparameters`` (+ ``pretrained``/``saved`` on the server),
``aggregation.parameters`` (``type: mistnet`` switches the client and server modes),
``transmitter.parameters`` and the chooser's ``per_round``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from sedna.algorithms.aggregation.v2 import PlatoRequiredError, plato_mode
from sedna.common.config import Context

__all__ = ["plato_available", "require_plato", "PlatoClient", "PlatoServer"]


def plato_available() -> bool:
    """Whether the ``plato`` package can be imported."""
    return importlib.util.find_spec("plato") is not None


def require_plato(what: str) -> None:
    """Raise :class:`PlatoRequiredError` for ``what`` unless Plato is installed."""
    if not plato_available():
        raise PlatoRequiredError(what)


def _section(config: Any, name: str) -> dict[str, Any]:
    value = getattr(config, name, None)
    if value is None:
        return {}
    return dict(value._asdict()) if hasattr(value, "_asdict") else dict(value)


def _store(config: Any, name: str, values: dict[str, Any]) -> None:
    setattr(config, name, type(config).namedtuple_from_dict(values))


def _apply_algorithm(aggregation: Any, server: dict[str, Any], clients: dict[str, Any]) -> dict[str, Any]:
    params = dict(getattr(aggregation, "parameters", None) or {"type": "fedavg"})
    if plato_mode(aggregation) == "mistnet":
        clients["type"] = "mistnet"
        server["type"] = "mistnet"
    else:
        clients["do_test"] = True
    return params


def _configure(
    data: Any, estimator: Any, aggregation: Any, transmitter: Any, address: tuple[Any, Any]
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Fill Plato's config from the V2 objects; returns ``(config, server, clients)`` sections
    still to be stored (the server side adds its own keys first)."""
    from plato.config import Config

    config = Config()
    server, clients = _section(config, "server"), _section(config, "clients")
    if data is not None and getattr(data, "parameters", None):
        _store(config, "data", {**_section(config, "data"), **data.parameters})
    if estimator is not None and getattr(estimator, "hyperparameters", None):
        _store(config, "trainer", {**_section(config, "trainer"), **estimator.hyperparameters})
    if aggregation is not None:
        _store(config, "algorithm", _apply_algorithm(aggregation, server, clients))
    server["address"], server["port"] = address
    if transmitter is not None:
        server.update(getattr(transmitter, "parameters", None) or {})
    return config, server, clients


class PlatoClient:
    """A Plato client configured from Sedna's V2 objects; :meth:`run` connects and trains."""

    def __init__(self, data: Any, estimator: Any, aggregation: Any, transmitter: Any) -> None:
        require_plato(f"FederatedLearningV2 with {plato_mode(aggregation)} aggregation")
        address = (Context.get_parameters("AGG_IP", "127.0.0.1"), Context.get_parameters("AGG_PORT", "7363"))
        config, server, clients = _configure(data, estimator, aggregation, transmitter, address)
        _store(config, "server", server)
        _store(config, "clients", clients)
        datasource = None
        if data is not None and getattr(data, "customized", False):
            from plato.datasources import base

            datasource = base.DataSource()
            datasource.trainset, datasource.testset = data.trainset, getattr(data, "testset", None)
        from plato.clients import registry

        self.client = registry.get(
            model=getattr(estimator, "model", None),
            datasource=datasource,
            trainer=getattr(estimator, "trainer", None),
            algorithm=getattr(estimator, "algorithm", None),
        )
        self.client.configure()

    def run(self) -> Any:
        return asyncio.run(self.client.start_client())


class PlatoServer:
    """A Plato server configured from Sedna's V2 objects; :meth:`start` serves."""

    def __init__(self, data: Any, estimator: Any, aggregation: Any, transmitter: Any, chooser: Any) -> None:
        require_plato(f"AggregationServerV2 with {plato_mode(aggregation)} aggregation")
        address = (
            Context.get_parameters("AGG_BIND_IP", "0.0.0.0"),
            int(Context.get_parameters("AGG_BIND_PORT", "7363")),
        )
        config, server, clients = _configure(data, estimator, aggregation, transmitter, address)
        if estimator is not None and hasattr(config, "params"):
            if getattr(estimator, "pretrained", None) is not None:
                config.params["pretrained_model_dir"] = estimator.pretrained
            if getattr(estimator, "saved", None) is not None:
                config.params["model_dir"] = estimator.saved
        if chooser is not None:
            clients["per_round"] = chooser.parameters["per_round"]
        _store(config, "server", server)
        _store(config, "clients", clients)
        from plato.servers import registry

        self.server = registry.get(model=getattr(estimator, "model", None))

    def start(self) -> Any:
        return self.server.run()
