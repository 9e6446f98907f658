"""Knowledge-base backends that other packages plug into the SDK.

The SDK does not import the model market (or any other backend's package): a package offers a
backend by declaring an entry point in the ``sedna.knowledge_bases`` group, e.g. in its
``pyproject.toml``::

    [project.entry-points."sedna.knowledge_bases"]
    market = "sedna_market.kb_backend:MarketBackend"

The entry point names a zero-argument callable (a class) returning the backend object; what a
backend must offer is the protocol of the SDK module that uses it (for ``market``:
:class:`sedna.algorithms.knowledge_management.market_kb.MarketOps`).  A worker image without the
package simply has no such entry point: the local knowledge base works as before and asking for
the backend raises :class:`BackendUnavailable`.

``SEDNA_KNOWLEDGE_BASES`` (``name=module:attr``, comma separated) adds or overrides entries for a
process, for a backend whose package is importable but not installed as a distribution (a source
checkout on ``PYTHONPATH``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import threading
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "OVERRIDE_ENV", "BackendUnavailable", "backend_available", "load_backend", "resolve_target",
           "registered_backends"]

#: entry point group where packages register knowledge-base backends
ENTRY_POINT_GROUP = "sedna.knowledge_bases"
#: ``name=module:attr[,name=module:attr...]``: entries that win over the installed entry points
OVERRIDE_ENV = "SEDNA_KNOWLEDGE_BASES"

_LOADED: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


class BackendUnavailable(RuntimeError):
    """No installed package provides the named knowledge-base backend, or it failed to import."""


def _overrides() -> dict[str, str]:
    out: dict[str, str] = {}
    for item in os.environ.get(OVERRIDE_ENV, "").split(","):
        name, sep, target = item.partition("=")
        if sep and name.strip() and target.strip():
            out[name.strip()] = target.strip()
    return out


def registered_backends() -> dict[str, str]:
    """``name -> "module:attr"`` of every backend this process can see (overrides included)."""
    found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    found.update(_overrides())
    return found


def resolve_target(target: str) -> Any:
    """The object an entry point value (``module:attr``) names."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def load_backend(name: str) -> Any:
    """The backend registered as ``name`` (built once per process and target).

    Raises :class:`BackendUnavailable` when nothing provides it or its package cannot be imported.
    """
    target = registered_backends().get(name)
    if target is None:
        raise BackendUnavailable(f"no {name!r} knowledge base is installed (entry point group {ENTRY_POINT_GROUP!r})")
    key = (name, target)
    with _LOCK:
        backend = _LOADED.get(key)
        if backend is None:
            try:
                backend = resolve_target(target)()
            except ImportError as err:  # declared, but its package (or a dependency) is missing
                raise BackendUnavailable(f"the {name!r} knowledge base ({target}) cannot be imported: {err}") from err
            _LOADED[key] = backend
        return backend


def backend_available(name: str) -> bool:
    """Whether :func:`load_backend` would succeed for ``name``."""
    try:
        load_backend(name)
    except BackendUnavailable:
        return False
    return True
