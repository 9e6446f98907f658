"""Sedna-compatible worker SDK (``sedna.core``, ``sedna.service``, ``sedna.algorithms`` ...)."""

__version__ = "0.1.0"
