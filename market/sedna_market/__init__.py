"""Sedna model market: learnware-style knowledge base for lifelong learning.

Main entry points: :func:`generate_rkme_table_spec` (users compute their own spec),
:class:`Market` (in-process market), :func:`sedna_market.service.create_app` (REST service),
:class:`sedna_market.client.MarketClient`, :class:`sedna_market.lifelong.TaskMarket`.
"""

from .market import Market, SubmissionError
from .spec import RKMETableSpec, SemanticSpec, generate_rkme_table_spec, generate_semantic_spec
from .status import CheckResult, CheckStatus

__all__ = [
    "CheckResult",
    "CheckStatus",
    "Market",
    "RKMETableSpec",
    "SemanticSpec",
    "SubmissionError",
    "generate_rkme_table_spec",
    "generate_semantic_spec",
]
