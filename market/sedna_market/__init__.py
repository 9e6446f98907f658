"""Sedna model market: learnware-style knowledge base for lifelong learning.

Main entry points: :func:`generate_rkme_table_spec` (users compute their own spec),
:class:`Market` (in-process market), :func:`sedna_market.service.create_app` (REST service),
:class:`sedna_market.client.MarketClient`, :class:`sedna_market.lifelong.TaskMarket`.

Exports are resolved lazily so that light submodules (the checker sandbox imports only
``sedna_market.model``) do not pay for scikit-learn, SQLAlchemy and the QP solver at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckResult": "sedna_market.status",
    "CheckStatus": "sedna_market.status",
    "Market": "sedna_market.market",
    "SubmissionError": "sedna_market.market",
    "RKMETableSpec": "sedna_market.spec.rkme",
    "SemanticSpec": "sedna_market.spec.semantic",
    "UnseenProfile": "sedna_market.unseen",
    "fit_unseen_profile": "sedna_market.unseen",
    "generate_rkme_table_spec": "sedna_market.spec.rkme",
    "generate_semantic_spec": "sedna_market.spec.semantic",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sedna_market' has no attribute {name!r}")
