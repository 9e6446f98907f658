"""Which models and users take part in hetero search (learnware's ``is_hetero`` rule, pure)."""

from __future__ import annotations

from ..spec.rkme import RKMETableSpec
from ..spec.semantic import SemanticSpec

#: tasks a hetero model may have (an empty Task also qualifies)
HETERO_TASKS = frozenset({"Classification", "Regression"})


def hetero_reason(semantic: SemanticSpec | None, rkme: RKMETableSpec | None) -> str | None:
    """Why a (semantic, RKME) pair is not hetero-eligible, or None when it is.

    Eligible: a table RKME; ``Data`` empty or ``Table``; ``Task`` empty, Classification or
    Regression; ``Input.Description`` with at least one non-blank entry; the RKME's dimension
    equal to ``Input.Dimension``.  The same rule applies to models and to users.
    """
    if semantic is None:
        return "no semantic specification"
    if rkme is None or rkme.type != "RKMETableSpecification":
        return "no table RKME specification"
    data = semantic.Data.Values
    if data and data != ["Table"]:
        return f"Data is {data}, not Table"
    task = semantic.Task.Values
    if task and (len(task) != 1 or task[0] not in HETERO_TASKS):
        return f"Task is {task}, not Classification or Regression"
    if semantic.Input is None:
        return "the semantic spec has no Input"
    if not any(isinstance(v, str) and v.strip() for v in semantic.Input.Description.values()):
        return "Input.Description describes no feature"
    if rkme.dim != semantic.Input.Dimension:
        return f"the RKME has {rkme.dim} features but Input.Dimension is {semantic.Input.Dimension}"
    return None


def is_hetero(semantic: SemanticSpec | None, rkme: RKMETableSpec | None) -> bool:
    """True when the pair can be mapped into the unified space (see :func:`hetero_reason`)."""
    return hetero_reason(semantic, rkme) is None
