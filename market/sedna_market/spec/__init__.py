"""Specifications: semantic (tags and descriptions) and statistical (RKME of tables, texts, images)."""

from .image import RKMEImageSpec, generate_image_spec
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
from .stat_types import generate_stat_spec, load_stat_spec, stat_spec_from_dict, stat_spec_from_json
from .text import RKMETextSpec, generate_text_spec

__all__ = [
    "DATA_TYPES",
    "LIBRARIES",
    "LICENSES",
    "SCENARIOS",
    "TASK_TYPES",
    "RKMEImageSpec",
    "RKMETableSpec",
    "RKMETextSpec",
    "SemanticSpec",
    "generate_image_spec",
    "generate_rkme_table_spec",
    "generate_semantic_spec",
    "generate_stat_spec",
    "generate_text_spec",
    "load_stat_spec",
    "stat_spec_from_dict",
    "stat_spec_from_json",
]
