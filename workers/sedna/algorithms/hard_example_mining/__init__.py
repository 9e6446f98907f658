"""Hard example mining filters (registered under ``ClassType.HEM``)."""

from sedna.algorithms.hard_example_mining.bert_router import BERT_ROUTER_AVAILABLE
from sedna.algorithms.hard_example_mining.hard_example_mining import (
    BaseFilter,
    CloudOnlyFilter,
    CrossEntropyFilter,
    EdgeOnlyFilter,
    IBTFilter,
    RandomFilter,
    ThresholdFilter,
)

__all__ = [
    "BaseFilter",
    "ThresholdFilter",
    "CrossEntropyFilter",
    "IBTFilter",
    "RandomFilter",
    "CloudOnlyFilter",
    "EdgeOnlyFilter",
    "BERT_ROUTER_AVAILABLE",
]
