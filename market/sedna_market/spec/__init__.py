"""Specifications: semantic (tags and descriptions) and statistical (RKME)."""

from .rkme import RKMETableSpec, generate_rkme_table_spec
from .semantic import (
    DATA_TYPES,
    LIBRARIES,
    LICENSES,
    SCENARIOS,
    TASK_TYPES,
    SemanticSpec,
    generate_semantic_spec,
)

__all__ = [
    "DATA_TYPES",
    "LIBRARIES",
    "LICENSES",
    "SCENARIOS",
    "TASK_TYPES",
    "RKMETableSpec",
    "SemanticSpec",
    "generate_rkme_table_spec",
    "generate_semantic_spec",
]
