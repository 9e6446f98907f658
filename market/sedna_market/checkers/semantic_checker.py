"""Semantic checker: vocabulary, cardinality and input/output descriptions (pure)."""

from __future__ import annotations

from ..spec.semantic import VOCABULARY, IODescription, SemanticSpec
from ..spec.stat_types import DATA_SPEC_TYPES
from ..status import CheckResult, CheckStatus


def _check_io(io: IODescription | None, what: str, min_dim: int = 1) -> str | None:
    if io is None:
        return f"{what} description is required"
    if io.Dimension < min_dim:
        return f"{what}.Dimension must be >= {min_dim}, got {io.Dimension}"
    for key, value in io.Description.items():
        if not key.lstrip("-").isdigit() or not 0 <= int(key) < io.Dimension:
            return f"{what}.Description key {key!r} is not an index in [0, {io.Dimension})"
        if not isinstance(value, str):
            return f"{what}.Description[{key!r}] must be a string"
    return None


def semantic_errors(spec: SemanticSpec) -> list[str]:
    """Every problem found in ``spec`` (empty when it is valid)."""
    errors: list[str] = []
    for key, (ftype, allowed) in VOCABULARY.items():
        field = getattr(spec, key)
        if field.Type != ftype:
            errors.append(f"{key}.Type must be {ftype!r}, got {field.Type!r}")
            continue
        values = field.Values
        if ftype == "String":
            if not isinstance(values, str) or not values.strip():
                errors.append(f"{key} must be a non-empty string")
            continue
        assert allowed is not None
        if ftype == "Class" and len(values) != 1:
            errors.append(f"{key} needs exactly one value from {list(allowed)}, got {values}")
        elif ftype == "Tag" and len(values) < 1:
            errors.append(f"{key} needs at least one value from {list(allowed)}")
        bad = [v for v in values if v not in allowed]
        if bad:
            errors.append(f"{key} has values outside the vocabulary: {bad}")
    if spec.first("Data") == "Table":
        err = _check_io(spec.Input, "Input")
        if err:
            errors.append(err)
    task = spec.first("Task")
    if task in ("Classification", "Regression"):
        err = _check_io(spec.Output, "Output", min_dim=2 if task == "Classification" else 1)
        if err:
            errors.append(err)
    return errors


#: where a model author gets each spec type, for the error message
_GENERATORS = {
    "RKMETableSpecification": "sedna_market.spec.generate_rkme_table_spec",
    "RKMETextSpecification": "sedna_market.spec.generate_text_spec",
    "RKMEImageSpecification": "sedna_market.spec.generate_image_spec",
}


def spec_type_error(spec: SemanticSpec, stat_spec_type: str) -> str | None:
    """``Data`` and the statistical spec's type must agree (learnware's market pre-check):
    ``Table`` needs an ``RKMETableSpecification``, ``Text`` an ``RKMETextSpecification``, ``Image``
    an ``RKMEImageSpecification``.  Types outside these three (a system spec) are not judged here."""
    data = spec.first("Data")
    want = DATA_SPEC_TYPES.get(data or "")
    if want is None or stat_spec_type == want or stat_spec_type not in DATA_SPEC_TYPES.values():
        return None
    return (
        f"Data is {data!r} but the statistical specification is an {stat_spec_type}; "
        f"{data} models need an {want} (generate it with {_GENERATORS[want]})"
    )


def check_semantic_spec(spec: SemanticSpec) -> CheckResult:
    """NONUSABLE when valid (runnability is the statistical checker's call), else INVALID."""
    errors = semantic_errors(spec)
    if errors:
        return CheckResult(status=CheckStatus.INVALID, reason="semantic spec: " + "; ".join(errors))
    return CheckResult(status=CheckStatus.NONUSABLE, reason="semantic spec ok")
