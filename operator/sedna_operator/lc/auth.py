"""Per-job report tokens: ``HMAC-SHA256(lc_secret, "<namespace>/<Kind>/<name>")``, hex encoded.

The operator derives the token of each job and injects it into the job's workers as
``SEDNA_REPORT_TOKEN``; workers send it as ``Authorization: Bearer <token>``. Nothing is
stored: the LC recomputes the token from the report's owner and compares in constant time.
A token only authorises reports about its own job, so a worker of one job cannot write
the status of another.

The same secret also yields a federated-learning job's aggregation credentials
(:func:`aggregation_env`, below).
"""

from __future__ import annotations

import hashlib
import hmac

from .models import canonical_owner_kind

__all__ = [
    "REPORT_TOKEN_ENV", "report_token", "token_matches", "bearer_token",
    "AGG_KEY_ENV", "AGG_CLIENT_ID_ENV", "AGG_TOKEN_ENV", "aggregation_key", "aggregation_token", "aggregation_env",
]

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


# -- federated-learning aggregation credentials ------------------------------------------------
#
# The aggregation server of a FederatedLearningJob must know which trainer speaks on each
# websocket: a self-asserted client id lets one socket pose as every trainer. Both runtimes
# derive, from the same LC secret, a per-job aggregation key for the aggregator and a per-trainer
# token bound to a stable client id; the SDK (``sedna.service.server.aggregation``) checks
# ``token == HMAC(key, client_id)``. Nothing is stored, as for report tokens.

AGG_KEY_ENV = "SEDNA_AGG_KEY"
AGG_CLIENT_ID_ENV = "SEDNA_AGG_CLIENT_ID"
AGG_TOKEN_ENV = "SEDNA_AGG_TOKEN"
FL_KIND = "FederatedLearningJob"


def aggregation_key(secret: bytes | str, namespace: str, name: str) -> str:
    """The aggregation key of job ``namespace/name``: ``HMAC(secret, "<ns>/FederatedLearningJob/<name>/aggregation")``.

    A suffix keeps it distinct from the job's report token (same secret, same job)."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = f"{namespace}/{FL_KIND}/{name}/aggregation".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def aggregation_token(agg_key: str, client_id: str) -> str:
    """The token of trainer ``client_id``: ``HMAC(agg_key, client_id)``, hex encoded."""
    return hmac.new(agg_key.encode(), client_id.encode(), hashlib.sha256).hexdigest()


def aggregation_env(
    secret: bytes | str, namespace: str, kind: str, name: str, role: str, slot: str | None
) -> dict[str, str]:
    """The aggregation credentials one worker of job ``namespace/kind/name`` gets (both runtimes
    call this where they inject ``SEDNA_REPORT_TOKEN``, so a job gets the same values on either).

    * the aggregation worker: ``SEDNA_AGG_KEY``;
    * a training worker: ``SEDNA_AGG_CLIENT_ID`` = its slot (the controller's worker key,
      ``train-<i>``: the same across pod restarts and replacement pods, unlike the pod name, so
      a restarted trainer resumes as itself) and ``SEDNA_AGG_TOKEN``;
    * any other worker (or kind, or a trainer without a slot): nothing.
    """
    if kind.lower() != FL_KIND.lower():  # not canonical_owner_kind: it raises on Dataset etc.
        return {}
    key = aggregation_key(secret, namespace, name)
    if role == "aggregation":
        return {AGG_KEY_ENV: key}
    if role == "train" and slot:
        return {AGG_CLIENT_ID_ENV: slot, AGG_TOKEN_ENV: aggregation_token(key, slot)}
    return {}


#: what a lifelong-learning worker sends to the market as its bearer token (``KBClient``)
MARKET_TOKEN_ENV = "MARKET_API_TOKEN"
LL_KIND = "LifelongLearningJob"


def market_env(market_key: str | None, namespace: str, kind: str, name: str) -> dict[str, str]:
    """The market token of a lifelong-learning job's workers (``MARKET_API_TOKEN``), derived from
    the key the operator shares with the market (:mod:`sedna.common.jobtoken`); nothing for other
    kinds or without a key. Both runtimes call this where they inject ``SEDNA_REPORT_TOKEN``."""
    if not market_key or kind.lower() != LL_KIND.lower():
        return {}
    from sedna.common.jobtoken import market_job_token

    return {MARKET_TOKEN_ENV: market_job_token(market_key, namespace, name)}
