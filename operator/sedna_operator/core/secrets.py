"""A v1 Secret's values as plain strings: one decoder for the runtimes and the LC."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

__all__ = ["decode_secret"]


def decode_secret(secret: Mapping[str, Any]) -> dict[str, str]:
    """``data`` (base64) and ``stringData`` as plain strings; a value that is not base64 of UTF-8
    text is left out (a broken key must not hide the others)."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
    out.update({str(k): str(v) for k, v in (secret.get("stringData") or {}).items()})
    return out
