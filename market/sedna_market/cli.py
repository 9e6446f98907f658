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
    token: str = typer.Option(
        None, envvar="MARKET_API_TOKEN", help="bearer token of one admin user ('admin') that may write everything"
    ),
    tokens_file: Path = typer.Option(
        None,
        envvar="MARKET_TOKENS_FILE",
        help='JSON file of named users: {"<token>": {"user": "alice", "admin": false}, ...} '
        "(env MARKET_TOKENS holds the same JSON inline). A user may delete/overwrite only what it uploaded; "
        "admins anything",
    ),
    insecure: bool = typer.Option(
        False,
        "--insecure",
        envvar="MARKET_INSECURE",
        help="serve writes without any token (development only: anyone may upload, delete and overwrite). "
        "Without a token and without this flag the market refuses to start",
    ),
    max_upload_mb: int = typer.Option(64, help="largest accepted upload"),
    max_package_mb: int = typer.Option(
        None, help="largest unpacked size of one package; default $SEDNA_MARKET_MAX_PACKAGE_BYTES or 512 MiB"
    ),
    max_package_files: int = typer.Option(
        None, help="most files in one package; default $SEDNA_MARKET_MAX_PACKAGE_FILES or 10000"
    ),
    max_storage_gb: float = typer.Option(
        None,
        help="quota of the whole market's package storage (zips plus unpacked files, and the "
        "knowledge-base files), in GiB; 0 = none; default $SEDNA_MARKET_MAX_STORAGE_BYTES or 10 GiB",
    ),
    hetero: bool = typer.Option(
        False,
        "--hetero",
        envvar="SEDNA_MARKET_HETERO",
        help="hetero market: map table models of every feature space into one space (a small transformer "
        "over the column descriptions) and search there when a user's semantic spec describes its features",
    ),
    hetero_auto_update_limit: int = typer.Option(
        None,
        help="retrain the hetero engine after this many newly eligible models (0: never); "
        "default $SEDNA_MARKET_HETERO_AUTO_UPDATE_LIMIT or 100",
    ),
    log_level: str = typer.Option("info", envvar="SEDNA_LOG_LEVEL", help="One of debug, info, warning, error."),
) -> None:
    """Run the market REST service.

    Writes (upload, delete, /knowledgebase updates) need a bearer token: --token / MARKET_API_TOKEN
    (one admin), --tokens-file / MARKET_TOKENS_FILE or MARKET_TOKENS (named users; each deletes and
    overwrites only its own models, admins anything). Without any token the market refuses to start
    unless --insecure. Reads need no token. learnware.yaml may expand to at most
    $SEDNA_MARKET_MAX_YAML_NODES nodes (default 10000). See docs/market.md.
    """
    import logging

    import uvicorn

    if log_level.lower() not in _LEVELS:
        raise typer.BadParameter(f"--log-level must be one of {', '.join(_LEVELS)}, not {log_level!r}")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from .service import create_app
    from .settings import MarketSettings

    overrides: dict[str, object] = {}
    if tokens_file is not None:
        overrides["tokens_file"] = tokens_file
    if max_package_mb is not None:
        overrides["max_package_bytes"] = max_package_mb * 1024 * 1024
    if max_package_files is not None:
        overrides["max_package_files"] = max_package_files
    if max_storage_gb is not None:
        overrides["max_storage_bytes"] = int(max_storage_gb * 1024**3)
    if hetero:
        overrides["hetero"] = True
    if hetero_auto_update_limit is not None:
        overrides["hetero_auto_update_limit"] = hetero_auto_update_limit
    try:
        settings = MarketSettings(
            db_url=db_url or os.environ.get("KB_URL", "sqlite:///lifelong_kb.sqlite3"),
            storage_dir=storage_dir or Path(os.environ.get("KnowledgeBasePath", "./kb_storage")),
            api_token=token or None,
            insecure=insecure,
            max_upload_bytes=max_upload_mb * 1024 * 1024,
            **overrides,
        )
        app = create_app(settings)
    except ValueError as exc:  # AuthConfigError, a malformed SEDNA_MARKET_* value, a bound <= 0
        typer.echo(f"sedna kb serve: {exc}", err=True)
        raise typer.Exit(2) from None
    # an insecure market has already logged its WARNING line and banner (create_app)
    # Access logs only when debugging: probes would fill the log.
    uvicorn.run(
        app, host=host, port=port, log_level=log_level.lower(), access_log=log_level.lower() == "debug"
    )
