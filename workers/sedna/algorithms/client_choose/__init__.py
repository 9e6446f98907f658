"""Client selection for ``AggregationServerV2`` (Sedna 0.4+): ``SimpleClientChoose``."""

from sedna.algorithms.client_choose.client_choose import AbstractClientChoose, SimpleClientChoose

__all__ = ["AbstractClientChoose", "SimpleClientChoose"]
