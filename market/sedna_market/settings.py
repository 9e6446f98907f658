"""Service settings (pydantic), with Sedna's environment variables as defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field


def _default_db_url() -> str:
    return os.environ.get("KB_URL", "sqlite:///lifelong_kb.sqlite3")


def _default_storage() -> Path:
    return Path(os.environ.get("KnowledgeBasePath", "./kb_storage"))


class MarketSettings(BaseModel):
    """Everything the REST service needs."""

    db_url: str = Field(default_factory=_default_db_url)
    storage_dir: Path = Field(default_factory=_default_storage)
    #: bearer token for writes; None disables auth (development, or Sedna clients that send none)
    api_token: str | None = Field(default_factory=lambda: os.environ.get("MARKET_API_TOKEN"))
    max_upload_bytes: int = 64 * 1024 * 1024
    check_timeout_s: float = 30.0
    check_memory_mb: int = 2048
    check_workers: int = 1
    run_stat_check: bool = True
