"""Service settings (pydantic), with Sedna's environment variables as defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from .package import MAX_FILES, MAX_UNCOMPRESSED_BYTES, MAX_YAML_NODES

#: default of ``max_storage_bytes``: the sum of every stored package (zip + unpacked bytes)
DEFAULT_MAX_STORAGE_BYTES = 10 * 1024**3


def _default_db_url() -> str:
    return os.environ.get("KB_URL", "sqlite:///lifelong_kb.sqlite3")


def _default_storage() -> Path:
    return Path(os.environ.get("KnowledgeBasePath", "./kb_storage"))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer (bytes or a count)") from None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw) if raw else None


class MarketSettings(BaseModel):
    """Everything the REST service needs.

    Writes need a bearer token: ``api_token`` (one admin user, ``MARKET_API_TOKEN``) and/or
    named users from ``tokens`` / ``tokens_file`` (see :mod:`sedna_market.auth`). With none of
    them the service refuses to start unless ``insecure`` is set (``MARKET_INSECURE=1``,
    ``sedna kb serve --insecure``): then anyone may write, and it says so at start.
    """

    db_url: str = Field(default_factory=_default_db_url)
    storage_dir: Path = Field(default_factory=_default_storage)
    #: bearer token of one admin user named "admin" (the single-token setting of earlier versions)
    api_token: str | None = Field(default_factory=lambda: os.environ.get("MARKET_API_TOKEN") or None)
    #: named users: JSON text ``{"<token>": {"user": "alice", "admin": false}, ...}`` (env MARKET_TOKENS)
    tokens: str | None = Field(default_factory=lambda: os.environ.get("MARKET_TOKENS") or None)
    #: file holding the same JSON (env MARKET_TOKENS_FILE; e.g. a mounted Secret)
    tokens_file: Path | None = Field(default_factory=lambda: _env_path("MARKET_TOKENS_FILE"))
    #: key of per-job tokens (``sedna.common.jobtoken``) the operator gives lifelong-learning
    #: workers; each job writes as its own non-admin user (env MARKET_JOB_TOKEN_KEY)
    job_token_key: str | None = Field(default_factory=lambda: os.environ.get("MARKET_JOB_TOKEN_KEY") or None)
    #: serve writes without any token (development only; env MARKET_INSECURE=1)
    insecure: bool = Field(default_factory=lambda: _env_flag("MARKET_INSECURE"))
    max_upload_bytes: int = 64 * 1024 * 1024
    #: unpacked bytes of one package (env SEDNA_MARKET_MAX_PACKAGE_BYTES)
    max_package_bytes: int = Field(
        default_factory=lambda: _env_int("SEDNA_MARKET_MAX_PACKAGE_BYTES", MAX_UNCOMPRESSED_BYTES), gt=0
    )
    #: files (zip entries) of one package (env SEDNA_MARKET_MAX_PACKAGE_FILES)
    max_package_files: int = Field(default_factory=lambda: _env_int("SEDNA_MARKET_MAX_PACKAGE_FILES", MAX_FILES), gt=0)
    #: expanded nodes of learnware.yaml (env SEDNA_MARKET_MAX_YAML_NODES)
    max_yaml_nodes: int = Field(default_factory=lambda: _env_int("SEDNA_MARKET_MAX_YAML_NODES", MAX_YAML_NODES), gt=0)
    #: the whole market's package storage, zips plus their unpacked files, in bytes
    #: (env SEDNA_MARKET_MAX_STORAGE_BYTES; 0 turns the quota off)
    max_storage_bytes: int = Field(
        default_factory=lambda: _env_int("SEDNA_MARKET_MAX_STORAGE_BYTES", DEFAULT_MAX_STORAGE_BYTES), ge=0
    )
    #: hetero market: map table models of every feature space into one space and search there
    #: when a user describes its features (env SEDNA_MARKET_HETERO=1; docs/market.md "Hetero market")
    hetero: bool = Field(default_factory=lambda: _env_flag("SEDNA_MARKET_HETERO"))
    #: retrain the hetero engine after this many newly eligible models (0: never automatically;
    #: env SEDNA_MARKET_HETERO_AUTO_UPDATE_LIMIT)
    hetero_auto_update_limit: int = Field(
        default_factory=lambda: _env_int("SEDNA_MARKET_HETERO_AUTO_UPDATE_LIMIT", 100), ge=0
    )
    check_timeout_s: float = 30.0
    check_memory_mb: int = 2048
    check_workers: int = 1
    run_stat_check: bool = True
