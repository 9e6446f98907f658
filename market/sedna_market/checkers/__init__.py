"""Checkers decide INVALID / NONUSABLE / USABLE for a submitted package.

``semantic_checker`` and ``stat_checker`` hold the logic; ``sandbox`` runs models in a child
process; ``sandbox_worker`` is that child's entry point (kept import-light on purpose).
"""
