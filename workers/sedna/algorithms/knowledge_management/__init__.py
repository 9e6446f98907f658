"""Knowledge management: the knowledge-base interface and task update strategies (ClassType.KM).

``market_kb`` registers the model-market knowledge base and its pipeline components; the market
itself plugs in through the ``sedna.knowledge_bases`` entry point group (``backends``) and is
needed only when a :class:`MarketKnowledgeBase` is built, so this package loads without the
market extra.
"""

from sedna.algorithms.knowledge_management.knowledge_base import (
    INDEX_FILE,
    KnowledgeBase,
    LocalKnowledgeBase,
    fit_task_statistics,
)
from sedna.algorithms.knowledge_management.market_kb import (
    KB_BACKEND_ENV,
    MarketKnowledgeBase,
    SampleRegonitionByMarket,
    TaskAllocationByMarket,
    market_available,
)
from sedna.algorithms.knowledge_management.update_strategy import (
    UpdateStrategyByFinetune,
    UpdateStrategyDefault,
)

__all__ = [
    "INDEX_FILE", "KnowledgeBase", "LocalKnowledgeBase", "fit_task_statistics",
    "UpdateStrategyDefault", "UpdateStrategyByFinetune",
    "KB_BACKEND_ENV", "MarketKnowledgeBase", "SampleRegonitionByMarket", "TaskAllocationByMarket",
    "market_available",
]
