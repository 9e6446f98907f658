"""Searchers: semantic (exact, fuzzy) and statistical (single models and mixtures)."""

from .semantic_search import semantic_search
from .stat_index import StatIndex
from .stat_search import MixtureItem, SingleItem, StatSearchResult, stat_search

__all__ = [
    "MixtureItem",
    "SingleItem",
    "StatIndex",
    "StatSearchResult",
    "semantic_search",
    "stat_search",
]
