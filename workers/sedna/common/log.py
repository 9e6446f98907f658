"""The SDK logger: one ``sedna`` logger writing structured ``key=value`` lines to stderr.

Quiet by default: unless ``LOG_LEVEL`` is set, only warnings and errors are written, so a
library import never floods a user's worker output. ``LOG_LEVEL`` (DEBUG/INFO/WARNING/ERROR)
is read when the logger is first configured and again by :func:`set_level`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

__all__ = ["LOGGER", "Logger", "get_logger", "set_level", "StructuredFormatter", "log_event"]

_DEFAULT_QUIET_LEVEL = "WARNING"


def _quote(value: Any) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class StructuredFormatter(logging.Formatter):
    """``ts=... level=... logger=... msg="..." k=v`` lines; extra fields come from
    ``extra={"fields": {...}}`` (see :func:`log_event`)."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"ts={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}",
            f"level={record.levelname}",
            f"logger={record.name}",
            f"msg={_quote(record.getMessage())}",
        ]
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            parts.extend(f"{k}={_quote(v)}" for k, v in fields.items())
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def _level_from_env() -> int:
    name = os.environ.get("LOG_LEVEL", _DEFAULT_QUIET_LEVEL).strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.WARNING


def set_level(level: str | int | None = None) -> None:
    """Set the SDK log level (``None`` re-reads ``LOG_LEVEL``)."""
    if level is None:
        LOGGER.setLevel(_level_from_env())
    else:
        LOGGER.setLevel(level if isinstance(level, int) else str(level).upper())


def _build() -> logging.Logger:
    logger = logging.getLogger("sedna")
    if not any(getattr(h, "_sedna_handler", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(StructuredFormatter())
        handler._sedna_handler = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    # our handler already writes; propagating would print every line twice under basicConfig
    logger.propagate = False
    logger.setLevel(_level_from_env())
    return logger


LOGGER: logging.Logger = _build()


def get_logger(name: str) -> logging.Logger:
    """A child of the SDK logger (``sedna.<name>``), sharing its handler and level."""
    return LOGGER.getChild(name)


def log_event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with structured ``fields`` appended as ``key=value``."""
    logger.log(level, msg, extra={"fields": fields})


class Logger:
    """Sedna's ``Logger(name=...)``: ``.logger`` is a child of the SDK logger (one handler,
    one level for the whole SDK, quiet by default; ``LOG_LEVEL`` raises or lowers it)."""

    def __init__(self, level: str | int | None = None, name: str | None = None) -> None:
        self.logger = get_logger(name) if name and name != LOGGER.name else LOGGER
        if level is not None:
            self.logger.setLevel(level if isinstance(level, int) else str(level).upper())
