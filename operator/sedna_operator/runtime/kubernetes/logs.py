"""Structured (JSON, one object a line) logs for the operator and the LC on a cluster."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "setup_logging", "LEVELS"]

LEVELS = ("debug", "info", "warning", "error")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra}``; exceptions under ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "info", *, structured: bool = True) -> None:
    """Configure the root logger (JSON to stderr unless ``structured`` is False)."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if structured else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries are chatty at INFO; keep them at WARNING unless debugging.
    if level.lower() != "debug":
        for name in ("aiohttp.access", "uvicorn.access", "kubernetes.client.rest"):
            logging.getLogger(name).setLevel(logging.WARNING)
