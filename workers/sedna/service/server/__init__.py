"""Data-plane servers: ``from sedna.service.server import AggregationServer, AggregationServerV2, InferenceServer``."""

from sedna.service.server.aggregation import AggregationServer, AggregationServerV2
from sedna.service.server.base import BaseServer
from sedna.service.server.inference import InferenceServer

__all__ = ["AggregationServer", "AggregationServerV2", "InferenceServer", "BaseServer"]
