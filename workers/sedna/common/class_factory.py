"""Registry of pluggable algorithms, keyed by type and alias (Sedna's ``ClassFactory``).

Worker scripts written for Sedna register and look up classes exactly this way::

    @ClassFactory.register(ClassType.HEM, alias="Threshold")
    class ThresholdFilter: ...

    cls = ClassFactory.get_cls(ClassType.HEM, "Threshold")
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["ClassType", "ClassFactory", "UnknownAlgorithmError"]

T = TypeVar("T")


class ClassType:
    """The registry keys Sedna uses (the misspelling of MTL is Sedna's and kept on purpose)."""

    GENERAL = "general"
    HEM = "hard_example_mining"
    FL_AGG = "aggregation"
    MTL = "multi_task_learening"
    UTD = "unseen_task_detect"
    UTP = "unseen_task_processing"
    STP = "seen_task_processing"
    KM = "knowledge_management"
    OF = "optical_flow"
    CALLBACK = "post_process_callback"
    DATASET = "data_process"
    DATA_PROCESS = DATASET  # an earlier name here; Sedna's is DATASET
    ALGORITHM = "algorithm"


# where the built-in classes of a type are registered; imported on the first lookup miss so
# ``get_cls(ClassType.FL_AGG, "FedAvg")`` works without importing the package first
_BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    ClassType.HEM: ("sedna.algorithms.hard_example_mining",),
    ClassType.FL_AGG: ("sedna.algorithms.aggregation",),
}


def _import_builtins(type_name: str) -> None:
    for module in _BUILTIN_MODULES.get(type_name, ()):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise


class UnknownAlgorithmError(ValueError):
    """Raised when an alias is not registered under a type; the message lists what is."""


class ClassFactory:
    """Process-wide registry: ``{type: {alias: class}}``."""

    __registry__: dict[str, dict[str, Any]] = {}
    _lock = threading.Lock()

    @classmethod
    def register(cls, type_name: str = ClassType.GENERAL, alias: str | None = None) -> Callable[[T], T]:
        """Decorator registering a class (or function) under ``type_name`` and ``alias``
        (the class name when no alias is given)."""

        def wrapper(t_cls: T) -> T:
            name = alias or getattr(t_cls, "__name__", None)
            if not name:
                raise ValueError(f"cannot register {t_cls!r} without an alias")
            cls.register_cls(t_cls, type_name, name)
            return t_cls

        return wrapper

    @classmethod
    def register_cls(cls, t_cls: Any, type_name: str = ClassType.GENERAL, alias: str | None = None) -> Any:
        """Register ``t_cls`` directly (non-decorator form). Re-registering an alias replaces it,
        which lets user scripts override a built-in algorithm of the same name."""
        name = alias or t_cls.__name__
        with cls._lock:
            cls.__registry__.setdefault(type_name, {})[name] = t_cls
        return t_cls

    @classmethod
    def register_from_package(cls, package: Any, type_name: str = ClassType.GENERAL) -> None:
        """Register every public class of a module or package object."""
        for name in dir(package):
            if name.startswith("_"):
                continue
            obj = getattr(package, name)
            if isinstance(obj, type):
                cls.register_cls(obj, type_name)

    @classmethod
    def is_exists(cls, type_name: str, alias: str | None = None) -> bool:
        """Whether ``type_name`` (and ``alias`` within it, when given) is registered."""
        with cls._lock:
            entries = cls.__registry__.get(type_name)
            if entries is None:
                return False
            return alias is None or alias in entries

    @classmethod
    def get_cls(cls, type_name: str, t_cls_name: str | None = None) -> Any:
        """Return the class registered as ``t_cls_name`` under ``type_name``.

        Raises :class:`UnknownAlgorithmError` naming the known aliases, so a typo in
        ``HEM_NAME`` tells the user what they could have written.
        """
        with cls._lock:
            entries = dict(cls.__registry__.get(type_name, {}))
        if t_cls_name not in entries:
            _import_builtins(type_name)
            with cls._lock:
                entries = dict(cls.__registry__.get(type_name, {}))
        if t_cls_name is None:
            raise UnknownAlgorithmError(f"no alias given for type {type_name!r}")
        if t_cls_name not in entries:
            known = ", ".join(sorted(entries)) or "none registered"
            raise UnknownAlgorithmError(
                f"{t_cls_name!r} is not a registered {type_name} algorithm; known aliases: {known}"
            )
        return entries[t_cls_name]

    @classmethod
    def aliases(cls, type_name: str) -> list[str]:
        """Sorted aliases registered under ``type_name`` (built-ins included)."""
        _import_builtins(type_name)
        with cls._lock:
            return sorted(cls.__registry__.get(type_name, {}))
