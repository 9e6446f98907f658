"""``sedna kb`` commands (a typer app the main CLI mounts)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

_LEVELS = ("debug", "info", "warning", "error")

app = typer.Typer(help="Knowledge base / model market.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    """Knowledge base / model market."""


@app.command()
def serve(
    host: str = typer.Option("0.0.0.0", help="bind address"),
    port: int = typer.Option(9020, help="port (Sedna's KB port)"),
    db_url: str = typer.Option(None, help="SQLAlchemy URL; default $KB_URL or sqlite:///lifelong_kb.sqlite3"),
    storage_dir: Path = typer.Option(None, help="package store; default $KnowledgeBasePath or ./kb_storage"),
    token: str = typer.Option(None, envvar="MARKET_API_TOKEN", help="bearer token required for writes"),
    max_upload_mb: int = typer.Option(64, help="largest accepted upload"),
    log_level: str = typer.Option("info", envvar="SEDNA_LOG_LEVEL", help="One of debug, info, warning, error."),
) -> None:
    """Run the market REST service."""
    import logging

    import uvicorn

    if log_level.lower() not in _LEVELS:
        raise typer.BadParameter(f"--log-level must be one of {', '.join(_LEVELS)}, not {log_level!r}")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from .service import create_app
    from .settings import MarketSettings

    settings = MarketSettings(
        db_url=db_url or os.environ.get("KB_URL", "sqlite:///lifelong_kb.sqlite3"),
        storage_dir=storage_dir or Path(os.environ.get("KnowledgeBasePath", "./kb_storage")),
        api_token=token,
        max_upload_bytes=max_upload_mb * 1024 * 1024,
    )
    # Access logs only when debugging: probes would fill the log.
    uvicorn.run(
        create_app(settings), host=host, port=port, log_level=log_level.lower(), access_log=log_level.lower() == "debug"
    )
