"""Per-job report tokens: ``HMAC-SHA256(lc_secret, "<namespace>/<Kind>/<name>")``, hex encoded.

The operator derives the token of each job and injects it into the job's workers as
``SEDNA_REPORT_TOKEN``; workers send it as ``Authorization: Bearer <token>``. Nothing is
stored: the LC recomputes the token from the report's owner and compares in constant time.
A token only authorises reports about its own job, so a worker of one job cannot write
the status of another.
"""

from __future__ import annotations

import hashlib
import hmac

from .models import canonical_owner_kind

__all__ = ["REPORT_TOKEN_ENV", "report_token", "token_matches", "bearer_token"]

REPORT_TOKEN_ENV = "SEDNA_REPORT_TOKEN"


def report_token(secret: bytes | str, namespace: str, kind: str, name: str) -> str:
    """The report token of job ``namespace/kind/name``.

    ``kind`` may be the CamelCase Kind (``IncrementalLearningJob``) or Sedna's lowercase
    owner kind (``incrementallearningjob``): both give the same token.
    """
    key = secret.encode() if isinstance(secret, str) else secret
    message = f"{namespace}/{canonical_owner_kind(kind)}/{name}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_matches(secret: bytes | str, namespace: str, kind: str, name: str, token: str) -> bool:
    """Whether ``token`` is the report token of the job (constant-time comparison)."""
    expected = report_token(secret, namespace, kind, name)
    return hmac.compare_digest(expected.encode(), token.encode())
