"""Building an aggregation strategy with its parameters, in every form a job can give them.

``AggregationServer(aggregation=...)`` accepts:

* a registered ``FL_AGG`` name (``"MultiKrum"``), or ``None`` for ``AGG_NAME`` (else ``FedAvg``);
* a ``{"method": name, "param": {...}}`` dict; ``param`` may also be a JSON string or Sedna's
  ``[{"key", "value"}]`` list (what ``Context.get_algorithm_from_api`` returns);
* a ready instance (used as is), or a strategy class (instantiated with the parameters).

Parameters also come from the job's environment, as Sedna reads them for hard example mining:
``AGG_NAME`` and ``AGG_PARAMETERS`` (a JSON list of ``{"key", "value"}``). They are applied
when ``AGG_NAME`` names the same strategy; parameters written in the script win over them.
Environment values are strings: each is cast to the type the constructor's annotation or
default names (``"1"`` → ``1`` for ``num_malicious: int = 0``).
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from sedna.common.class_factory import ClassFactory, ClassType
from sedna.common.config import Context
from sedna.common.utils import parse_param, str_to_bool
from sedna.service._log import LOGGER

__all__ = ["AggregationSpec", "resolve_aggregation", "build_aggregation", "cast_params", "DEFAULT_AGGREGATION"]

DEFAULT_AGGREGATION = "FedAvg"


@dataclass
class AggregationSpec:
    """What a job asked for: the strategy's name, its class (or ready instance) and parameters."""

    name: str
    cls: Any = None
    instance: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


def _name_of(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    # the registry key when the class is registered under an alias, else its class name
    for alias in ClassFactory.aliases(ClassType.FL_AGG):
        if ClassFactory.get_cls(ClassType.FL_AGG, alias) is cls:
            return alias
    return cls.__name__


def _from_argument(aggregation: Any) -> AggregationSpec:
    if aggregation is None or aggregation == "":
        env = Context.get_algorithm_from_api("AGG")
        name = str(env.get("method") or DEFAULT_AGGREGATION)
        return AggregationSpec(name, sources=["AGG_NAME"] if env else ["default"])
    if isinstance(aggregation, str):
        return AggregationSpec(aggregation, sources=["argument"])
    if isinstance(aggregation, dict):
        method = aggregation.get("method") or aggregation.get("name")
        params = parse_param(aggregation.get("param", aggregation.get("params")), "aggregation param")
        if isinstance(method, type):
            return AggregationSpec(_name_of(method), cls=method, params=params, sources=["argument"])
        return AggregationSpec(str(method or DEFAULT_AGGREGATION), params=params, sources=["argument"])
    if isinstance(aggregation, type):
        return AggregationSpec(_name_of(aggregation), cls=aggregation, sources=["argument"])
    if callable(getattr(aggregation, "aggregate", None)):
        return AggregationSpec(_name_of(aggregation), instance=aggregation, sources=["argument"])
    raise TypeError(
        "aggregation must be a registered name, a {'method', 'param'} dict, a strategy class or an "
        f"instance with aggregate(); got {type(aggregation).__name__}"
    )


def resolve_aggregation(aggregation: Any = None, use_env: bool = True) -> AggregationSpec:
    """The strategy a job asked for, its parameters merged from the script and ``AGG_*``."""
    spec = _from_argument(aggregation)
    if not use_env or spec.instance is not None:
        return spec
    env = Context.get_algorithm_from_api("AGG")
    if not env:
        return spec
    if str(env["method"]) != spec.name:
        LOGGER.warning(
            "AGG_NAME=%s differs from the aggregation %s the script chose: AGG_PARAMETERS not applied",
            env["method"], spec.name,
        )
        return spec
    merged = dict(env.get("param") or {})
    merged.update(spec.params)  # the script's own values win, as for HEM keyword arguments
    spec.params = merged
    spec.sources.append("AGG_PARAMETERS")
    return spec


def build_aggregation(aggregation: Any = None, use_env: bool = True) -> tuple[str, Any]:
    """``(name, instance)`` of the strategy; parameters cast to the constructor's types."""
    spec = resolve_aggregation(aggregation, use_env)
    if spec.instance is not None:
        return spec.name, spec.instance
    cls = spec.cls or ClassFactory.get_cls(ClassType.FL_AGG, spec.name)
    params = cast_params(cls, spec.params)
    if params:
        LOGGER.info("aggregation %s with %s (from %s)", spec.name, params, ", ".join(spec.sources))
    return spec.name, cls(**params)


# ---------------------------------------------------------------------------- casting
def _init_signature(cls: Any) -> list[inspect.Parameter]:
    """The named parameters of every ``__init__`` along the MRO (subclass first)."""
    seen: dict[str, inspect.Parameter] = {}
    for klass in getattr(cls, "__mro__", (cls,)):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        for p in params:
            if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                seen.setdefault(p.name, p)
    return list(seen.values())


def _hints(cls: Any) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    for klass in reversed(getattr(cls, "__mro__", (cls,))):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            hints.update(typing.get_type_hints(init))
        except Exception:  # unresolvable string annotations: fall back on defaults
            continue
    return hints


def _candidate_types(annotation: Any, default: Any) -> list[type]:
    """The types to try for a string value, most specific first."""
    found: list[type] = []
    if default is not inspect.Parameter.empty and default is not None:
        found.append(type(default))
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    for arg in args:
        base = typing.get_origin(arg) or arg
        if isinstance(base, type) and base is not type(None) and base not in found:
            found.append(base)
    return found


def _convert(value: str, target: type) -> Any:
    if target is bool:
        return str_to_bool(value)
    if target is int:
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if target is float:
        return float(value)
    if target in (list, tuple, dict):
        parsed = json.loads(value)
        if not isinstance(parsed, list | dict):
            raise ValueError(value)
        return target(parsed) if target is not dict else parsed
    if target is str:
        return value
    return target(value)


def _cast_one(value: Any, annotation: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return value
    candidates = _candidate_types(annotation, default)
    if str in candidates and not [t for t in candidates if t is not str]:
        return value
    for target in [t for t in candidates if t is not str]:
        try:
            return _convert(value, target)
        except (TypeError, ValueError):
            continue
    if not candidates:  # nothing declared: a JSON literal if it is one, else the text
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def cast_params(cls: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with string values cast to the types ``cls.__init__`` declares.

    Keys no ``__init__`` of ``cls`` names are kept (the strategy may take ``**kwargs``) and
    logged, since a misspelt key would otherwise be silently ignored.
    """
    signature = {p.name: p for p in _init_signature(cls)}
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for key, value in params.items():
        param = signature.get(key)
        if param is None:
            LOGGER.warning(
                "aggregation %s has no parameter %r (it takes: %s)",
                getattr(cls, "__name__", cls), key, ", ".join(sorted(signature)) or "none",
            )
            out[key] = value
            continue
        annotation = hints.get(key, param.annotation)
        out[key] = _cast_one(value, annotation, param.default)
    return out
