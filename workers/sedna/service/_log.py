"""The SDK logger: ``sedna.common.log.LOGGER`` when present, a plain ``logging`` logger otherwise."""

from __future__ import annotations

import logging

try:  # written by another part of the SDK; fall back so the data plane never depends on it
    from sedna.common.log import LOGGER
except ImportError:  # pragma: no cover - only before sedna.common.log exists
    LOGGER = logging.getLogger("sedna")

__all__ = ["LOGGER"]
