"""``sedna operator`` and ``sedna lc``: the processes of the chart's Deployment and DaemonSet."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from .logs import LEVELS, setup_logging

__all__ = ["register"]

log = logging.getLogger("sedna.operator")

LogLevel = Annotated[
    str, typer.Option("--log-level", help=f"One of {', '.join(LEVELS)}.", envvar="SEDNA_LOG_LEVEL")
]


def _check_level(level: str) -> str:
    if level.lower() not in LEVELS:
        raise typer.BadParameter(f"--log-level must be one of {', '.join(LEVELS)}, not {level!r}")
    return level.lower()


def operator(
    log_level: LogLevel = "info",
    health_port: Annotated[int, typer.Option(help="Port of GET /healthz (liveness); 0 disables it.")] = 8081,
    metrics_port: Annotated[
        int, typer.Option(help="Port of GET /metrics (Prometheus); 0 disables it.")
    ] = 8080,
    namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            help="Watch this namespace (repeatable). Default: $SEDNA_WATCH_NAMESPACES, else all.",
        ),
    ] = None,
    peering: Annotated[
        str | None, typer.Option(help="kopf peering object for active/standby replicas. Default: standalone.")
    ] = None,
    kubeconfig: Annotated[
        str | None, typer.Option(help="Kubeconfig file. Default: $KUBECONFIG, else in-cluster.")
    ] = None,
    plain_logs: Annotated[bool, typer.Option(help="Human-readable logs instead of JSON lines.")] = False,
) -> None:
    """Run the operator (the global manager): reconcile sedna.io resources into pods and services."""
    from .config import OperatorConfig
    from .operator import run_operator

    level = _check_level(log_level)
    # Our handler formats kopf's records too (their k8s object refs become fields); kopf.configure
    # would add a second root handler and print every line twice.
    setup_logging(level, structured=not plain_logs)
    config = OperatorConfig.from_env(
        kubeconfig=kubeconfig,
        namespaces=tuple(namespace) if namespace else None,
        peering=peering or None,
        health_port=health_port or None,
        metrics_port=metrics_port or None,
    )
    asyncio.run(run_operator(config))


def lc(
    log_level: LogLevel = "info",
    data_dir: Annotated[
        str, typer.Option(envvar="SEDNA_DATA_DIR", help="Host directory the LC writes (spool, state).")
    ] = "/var/lib/sedna",
    kubeconfig: Annotated[
        str | None, typer.Option(help="Kubeconfig file. Default: $KUBECONFIG, else in-cluster.")
    ] = None,
    plain_logs: Annotated[bool, typer.Option(help="Human-readable logs instead of JSON lines.")] = False,
) -> None:
    """Run the local controller of this node: the worker report API (Sedna's, port $BIND_PORT)
    writing to the resources' status, and the sample counter of this node's Datasets."""
    from ...lc.settings import LCSettings
    from .lcnode import run_lc

    level = _check_level(log_level)
    setup_logging(level, structured=not plain_logs)
    overrides: dict[str, object] = {"log_level": level.upper()}
    if not os.environ.get("SEDNA_LC_SECRET") and "SEDNA_LC_AUTH_REQUIRED" not in os.environ:
        # Sedna's LC authenticates nobody; without a shared secret we can do no better.
        log.warning("SEDNA_LC_SECRET is not set: worker reports are accepted without a job token")
        overrides["auth_required"] = False
    settings = LCSettings.for_cluster(**overrides)
    asyncio.run(run_lc(settings, data_dir, kubeconfig))


def register(app: typer.Typer) -> None:
    """Add ``operator`` and ``lc`` to the ``sedna`` command."""
    app.command("operator")(operator)
    app.command("lc")(lc)
