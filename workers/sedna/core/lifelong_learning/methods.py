"""Every ``LifelongLearning`` constructor spelling of Sedna 0.3 to HEAD, turned into one table.

A pipeline step may be given as

* ``None``: the default of the step;
* ``"Name"``: a registered alias (Sedna 0.3), its parameters in a ``*_param`` JSON string;
* ``{"method": ..., "param": ...}`` (0.4+): ``method`` an alias, a class or a callable (may be
  left out, see task mining below), ``param`` a dict or a JSON string;
* a class or a callable: the method itself, without parameters.

JSON strings are parsed with :func:`sedna.common.utils.parse_param` (Sedna's own parsing used
``json.loads(..., encoding=...)``, which Python 3.9 removed, so its string params only worked
on Python <= 3.8; bad JSON is an error here, where Sedna silently used ``{}``).

Task mining (0.3-0.5) is task allocation (0.6+): ``task_mining`` becomes ``task_allocation``
(``TaskMiningByDataAttr`` -> ``TaskAllocationByDataAttr``, ``TaskMiningBySVC`` ->
``TaskAllocationBySVC``). A mining (or allocation) without a method is paired with the task
definition, with the definition's params under the mining's own, as Sedna 0.3-0.5 did; this
also applies when neither is given (Sedna 0.6 then used ``TaskAllocationDefault``, which sends
every sample to the first task).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sedna.algorithms.multi_task_learning import MINING_TO_ALLOCATION
from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.utils import filter_kwargs, parse_param

__all__ = [
    "STEPS",
    "DEFAULT_METHODS",
    "PAIRED_ALLOCATION",
    "MethodSpec",
    "method_spec",
    "resolve_allocation",
    "resolve_estimators",
    "build_step",
]

#: the pipeline steps of the 0.6+ constructor, in its order
STEPS = (
    "task_definition",
    "task_relationship_discovery",
    "task_allocation",
    "task_remodeling",
    "inference_integrate",
    "task_update_decision",
    "unseen_task_allocation",
    "unseen_sample_recognition",
    "unseen_sample_re_recognition",
)

DEFAULT_METHODS: dict[str, str] = {
    "task_definition": "TaskDefinitionByDataAttr",
    "task_relationship_discovery": "DefaultTaskRelationDiscover",
    "task_remodeling": "DefaultTaskRemodeling",
    "inference_integrate": "DefaultInferenceIntegrate",
    "task_update_decision": "UpdateStrategyDefault",
    "unseen_task_allocation": "UnseenTaskAllocationDefault",
    # Sedna's default recogniser splits a batch in halves; ours measures (documented rule)
    "unseen_sample_recognition": "SampleRegonitionByDistance",
    "unseen_sample_re_recognition": "SampleReRegonitionDefault",
}

#: the allocation that goes with a definition (Sedna's mining pairing, extended to ByOrigin)
PAIRED_ALLOCATION = {
    "TaskDefinitionByDataAttr": "TaskAllocationByDataAttr",
    "TaskDefinitionBySVC": "TaskAllocationBySVC",
    "TaskDefinitionByOrigin": "TaskAllocationByOrigin",
}
#: for a definition of the user's own: the nearest task centroid works on any numeric features
FALLBACK_ALLOCATION = "TaskAllocationStream"

# registries searched after a step's own one: the 0.3-0.5 MTL names of the seen-task steps
_FALLBACK_TYPES = {ClassType.STP: (ClassType.MTL,)}


@dataclass(frozen=True)
class MethodSpec:
    """One pipeline step: ``method`` (alias, class, callable or None = to be paired) and params."""

    method: Any
    param: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The alias, or the qualified name of a class / callable (what the index records)."""
        if self.method is None or isinstance(self.method, str):
            return str(self.method or "")
        return f"{getattr(self.method, '__module__', '')}.{getattr(self.method, '__qualname__', repr(self.method))}"

    def __getitem__(self, key: str) -> Any:
        """``spec["method"]`` / ``spec["param"]``: the ``{"method", "param"}`` dict reading."""
        if key not in ("method", "param"):
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in ("method", "param") else default

    def record(self) -> dict[str, Any]:
        """A picklable description for the task index (a script's own class would not unpickle
        in the next worker)."""
        return {"method": self.name, "param": dict(self.param)}


def method_spec(spec: Any, param: Any = None, where: str = "method") -> MethodSpec | None:
    """A :class:`MethodSpec` from any accepted spelling; None when neither is given."""
    if spec is None and param is None:
        return None
    extra = parse_param(param, f"{where}_param")
    if spec is None:
        return MethodSpec(None, extra)
    if isinstance(spec, str):
        return MethodSpec(spec.strip() or None, extra)
    if isinstance(spec, Mapping):
        inner = parse_param(spec.get("param"), f"{where}.param")
        return MethodSpec(spec.get("method") or None, {**inner, **extra})
    if callable(spec):
        return MethodSpec(spec, extra)
    raise TypeError(
        f"{where} must be a name, a {{'method', 'param'}} dict or a class; got {type(spec).__name__}"
    )


def resolve_allocation(
    allocation: MethodSpec | None, mining: MethodSpec | None, definition: MethodSpec
) -> MethodSpec:
    """The task allocation from the 0.6+ ``task_allocation`` or the 0.3-0.5 ``task_mining``."""
    if allocation is not None and mining is not None:
        raise TypeError("give task_allocation (Sedna 0.6+) or task_mining (Sedna 0.3-0.5), not both")
    chosen = allocation or mining
    if chosen is not None and chosen.method is not None:
        method = chosen.method
        if isinstance(method, str):
            method = MINING_TO_ALLOCATION.get(method, method)
        return MethodSpec(method, chosen.param)
    defined = definition.method if isinstance(definition.method, str) else ""
    paired = PAIRED_ALLOCATION.get(defined, FALLBACK_ALLOCATION)
    return MethodSpec(paired, {**definition.param, **(chosen.param if chosen else {})})


def _is_algorithm_spec(value: Any) -> bool:
    return isinstance(value, str | Mapping)


def resolve_estimators(
    seen_estimator: Any, estimator: Any, unseen_estimator: Any, task_definition: Any
) -> tuple[Any, Any, Any]:
    """(seen estimator, unseen estimator, task definition) from the 0.3-0.5 or 0.6+ spelling.

    ``estimator=`` (0.3-0.5) and ``seen_estimator`` (0.6+, usually positional) are one thing.
    A 0.3-0.5 call with the task definition as second positional argument lands in
    ``unseen_estimator``; a name or a dict there is taken back as the definition.
    """
    if seen_estimator is not None and estimator is not None:
        raise TypeError("give seen_estimator (Sedna 0.6+) or estimator (Sedna 0.3-0.5), not both")
    seen = seen_estimator if seen_estimator is not None else estimator
    if seen is None:
        raise TypeError(
            "LifelongLearning needs an estimator (seen_estimator, or estimator= as in Sedna 0.3-0.5)"
        )
    if _is_algorithm_spec(unseen_estimator):
        if task_definition is not None:
            raise TypeError(
                "unseen_estimator looks like a task definition while task_definition is set too: "
                "pass the pipeline steps by keyword"
            )
        return seen, None, unseen_estimator
    return seen, unseen_estimator, task_definition


def _lookup(type_name: str, method: str) -> Any:
    for candidate in (type_name, *_FALLBACK_TYPES.get(type_name, ())):
        name = MINING_TO_ALLOCATION.get(method, method) if candidate == ClassType.STP else method
        if ClassFactory.is_exists(candidate, name):
            return ClassFactory.get_cls(candidate, name)
    return ClassFactory.get_cls(type_name, method)  # raises, naming the registered aliases


def build_step(type_name: str, spec: MethodSpec, **extra: Any) -> Any:
    """The callable of one step: a class (by alias or given) built with its params plus the
    ``extra`` arguments its constructor accepts (params win); a plain function is used as is,
    its params bound."""
    method = _lookup(type_name, spec.method) if isinstance(spec.method, str) else spec.method
    if method is None:
        raise ValueError(f"no {type_name} method given")
    if not isinstance(method, type):
        return functools.partial(method, **spec.param) if spec.param else method
    params = {**filter_kwargs(method, extra), **spec.param}
    return method(**params)
