"""Per-job market tokens: what lets a lifelong-learning job's workers write to the market as
themselves, without the market's admin token ever leaving the market and the operator.

The operator and the market share one key (the chart's ``kb-auth`` Secret). A job's token is
``job:<namespace>/<name>:<HMAC-SHA256(key, "market/<namespace>/<name>")>``; the operator puts it
in the job's workers as ``MARKET_API_TOKEN`` and the market recomputes it, so nothing is
stored. The user it names, ``job:<namespace>/<name>``, is not an admin: a job deletes or
overwrites only what it uploaded itself.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["JOB_TOKEN_PREFIX", "market_job_token", "market_job_user", "verify_market_job_token"]

JOB_TOKEN_PREFIX = "job:"


def _mac(key: str | bytes, namespace: str, name: str) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, f"market/{namespace}/{name}".encode(), hashlib.sha256).hexdigest()


def market_job_user(namespace: str, name: str) -> str:
    """The market user of job ``namespace/name``."""
    return f"{JOB_TOKEN_PREFIX}{namespace}/{name}"


def market_job_token(key: str | bytes, namespace: str, name: str) -> str:
    """The market token of job ``namespace/name`` under ``key``."""
    return f"{market_job_user(namespace, name)}:{_mac(key, namespace, name)}"


def verify_market_job_token(key: str | bytes, token: str) -> str | None:
    """The user a job token names, if ``token`` is one made with ``key`` (constant time), else None."""
    if not token.startswith(JOB_TOKEN_PREFIX):
        return None
    user, sep, mac = token.rpartition(":")
    namespace, slash, name = user[len(JOB_TOKEN_PREFIX) :].partition("/")
    if not (sep and slash and namespace and name and mac):
        return None
    if not hmac.compare_digest(_mac(key, namespace, name).encode(), mac.encode()):
        return None
    return user
