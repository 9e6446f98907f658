"""Statistical specification types by name: parse any spec JSON, generate any kind of spec.

The JSON ``type`` field picks the class, as learnware's loader does with the class named in
``learnware.yaml``: ``RKMETableSpecification`` (and its legacy alias ``RKMEStatSpecification``),
``RKMETextSpecification`` and ``RKMEImageSpecification``.  Other parts of the market may add their
own with :func:`register_stat_spec`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .image import IMAGE_SPEC_TYPE, RKMEImageSpec, generate_image_spec
from .parsing import SpecDataError, as_object, load_json_object
from .rkme import COMPATIBLE_TYPES, SPEC_TYPE, RKMETableSpec, generate_rkme_table_spec
from .text import TEXT_SPEC_TYPE, RKMETextSpec, generate_text_spec

STAT_SPEC_TYPES: dict[str, type[RKMETableSpec]] = {
    **{name: RKMETableSpec for name in COMPATIBLE_TYPES},
    TEXT_SPEC_TYPE: RKMETextSpec,
    IMAGE_SPEC_TYPE: RKMEImageSpec,
}

#: the ``Data`` value of a semantic spec -> the statistical spec type it needs
DATA_SPEC_TYPES = {"Table": SPEC_TYPE, "Text": TEXT_SPEC_TYPE, "Image": IMAGE_SPEC_TYPE}


def register_stat_spec(type_name: str, cls: type[RKMETableSpec]) -> None:
    """Make ``type_name`` parseable by :func:`stat_spec_from_dict` (``cls.from_dict`` parses it)."""
    STAT_SPEC_TYPES[type_name] = cls


def stat_spec_class(type_name: Any, where: str = "statistical spec") -> type[RKMETableSpec]:
    """The class of a spec type name; an unknown one is a ``ValueError`` listing the known."""
    cls = STAT_SPEC_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        shown = repr(type_name) if len(repr(type_name)) <= 60 else repr(type_name)[:57] + "..."
        raise SpecDataError(
            f"{where}: unsupported statistical spec type {shown}; supported: {', '.join(sorted(STAT_SPEC_TYPES))}"
        )
    return cls


def stat_spec_from_dict(data: Any, where: str = "statistical spec") -> RKMETableSpec:
    """Parse a spec's JSON form by its ``type`` (a table spec when absent)."""
    data = as_object(data, where)
    return stat_spec_class(data.get("type", SPEC_TYPE), where).from_dict(data, where)


def stat_spec_from_json(text: str | bytes, where: str = "statistical spec") -> RKMETableSpec:
    """Parse untrusted JSON text of any spec type."""
    return stat_spec_from_dict(load_json_object(text, where), where)


def load_stat_spec(path: str | Path) -> RKMETableSpec:
    """Read a ``stat_spec.json``-style file of any spec type."""
    return stat_spec_from_json(Path(path).read_bytes(), str(path))


def spec_kind(spec: RKMETableSpec) -> tuple[str, str | None]:
    """What must match for two specs to be compared: the type and the encoder of the space
    (a table spec has none; its feature shape is matched by the index)."""
    return spec.type, getattr(spec, "encoder", None)


def generate_stat_spec(type: str, X: Any, **kwargs: Any) -> RKMETableSpec:
    """learnware's ``generate_stat_spec``: ``type`` is ``"table"``, ``"text"`` or ``"image"``;
    ``kwargs`` go to the matching generator."""
    makers: dict[str, Callable[..., RKMETableSpec]] = {
        "table": generate_rkme_table_spec,
        "text": generate_text_spec,
        "image": generate_image_spec,
    }
    if type not in makers:
        raise ValueError(f"unknown specification type {type!r}; use one of {sorted(makers)}")
    return makers[type](X, **kwargs)
