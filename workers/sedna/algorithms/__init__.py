"""Algorithm catalogue (hard example mining, aggregation, lifelong-learning pieces).

Kept light on purpose: subpackages are imported on first use (``sedna.algorithms.aggregation``)
or by :func:`load_builtin`, so an absent or broken optional subpackage cannot break
``import sedna.algorithms``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["BUILTIN_SUBPACKAGES", "load_builtin"]

# imported by load_builtin(); the ones from other packages are optional
BUILTIN_SUBPACKAGES: tuple[str, ...] = (
    "hard_example_mining",
    "aggregation",
    "multi_task_learning",
    "seen_task_learning",
    "unseen_task_detection",
    "unseen_task_detect",
    "unseen_task_processing",
    "knowledge_management",
)


def load_builtin(names: tuple[str, ...] = BUILTIN_SUBPACKAGES) -> dict[str, ModuleType]:
    """Import the built-in subpackages (registering their classes in ``ClassFactory``).

    Missing subpackages are skipped; returns the modules that loaded.
    """
    loaded: dict[str, ModuleType] = {}
    for name in names:
        try:
            loaded[name] = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and not exc.name.startswith(f"{__name__}.{name}"):
                raise
    return loaded
