"""Data-plane servers: ``from sedna.service.server import AggregationServer, InferenceServer``."""

from sedna.service.server.aggregation import AggregationServer
from sedna.service.server.base import BaseServer
from sedna.service.server.inference import InferenceServer

__all__ = ["AggregationServer", "InferenceServer", "BaseServer"]
