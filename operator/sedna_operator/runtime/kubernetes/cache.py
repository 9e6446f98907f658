"""The operator's read path: kopf indices over the watch streams it already holds, plus its own
writes that the watch has not delivered yet.

Reading the cluster afresh for every reconcile cost six to seven requests (the resource, its
Models, LISTs of its Deployments, HPAs and pods, a Service check), each a quorum read in etcd,
for objects whose every change already reaches the operator as a watch event. Instead, the
handlers register a ``kopf.index`` per watched resource (:func:`index_functions`); kopf fills
them from its watch streams and starts no handler before every index holds its initial
listing, so an index is never partially listed when it is read. A reconcile then makes only
its writes (Secrets, which are not watched, are still read from the API).

An index lags the API server by one watch event. Our own writes must not look undone in that
window (a reconcile that does not see the Deployment it just created would create it again), so
each write's response is kept as an *expectation* (as Kubernetes' own controllers do for the
objects they create) until the index holds that resourceVersion or a newer one; a deletion
hides the object until the index drops it or shows a newer version. An expectation the watch
never confirms (an object created and deleted by someone else before we saw it) expires after
:data:`EXPECTATION_TTL` seconds.

Losing all of this is harmless: a restarted operator's indices are listed afresh, and until
:meth:`WatchCache.bind` has seen the indices (the first handler call), reads go to the API.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...api import KINDS
from ...core.observation import label_key

__all__ = ["WatchCache", "EXPECTATION_TTL", "index_id", "index_keys", "index_function"]
# Seconds after which a write the watch never showed is forgotten (Kubernetes' ReplicaSet
# controller lets its expectations expire after five minutes; ours need only outlive one event).
EXPECTATION_TTL = 30.0

Body = dict[str, Any]


def index_id(plural: str, owner_kind: str | None = None) -> str:
    """The kopf handler id of the index of ``plural`` (children: per owning kind, whose label
    selects them)."""
    return f"sedna-cache-{plural}" if owner_kind is None else f"sedna-cache-{KINDS[owner_kind].plural}-{plural}"


def _snapshot(body: Mapping[str, Any]) -> Body:
    # kopf hands a Body view over the event's raw dict; each event brings a new raw dict, so a
    # shallow copy is a stable snapshot of that version.
    return dict(body)


def _owner_uid(body: Mapping[str, Any], owner_kind: str | None) -> str | None:
    """The value of ``owner_kind``'s uid label on a child (None for sedna.io objects)."""
    if owner_kind is None:
        return None
    uid = ((body.get("metadata") or {}).get("labels") or {}).get(label_key(owner_kind, "uid"))
    return str(uid) if uid else None


def _name_key(namespace: str, name: str, owner_kind: str | None) -> tuple[str, ...]:
    return (namespace, name) if owner_kind is None else ("name", namespace, name)


def index_keys(body: Mapping[str, Any], owner_kind: str | None = None) -> dict[tuple[str, ...], Body]:
    """What the index of a sedna.io kind (key: namespace, name) or of one owning kind's children
    (keys: ``("uid", namespace, owner uid)`` and ``("name", namespace, name)``) holds for ``body``."""
    meta = body.get("metadata") or {}
    ns, snap = str(meta.get("namespace")), _snapshot(body)
    keys: dict[tuple[str, ...], Body] = {_name_key(ns, str(meta.get("name")), owner_kind): snap}
    uid = _owner_uid(body, owner_kind)
    if uid:
        keys[("uid", ns, str(uid))] = snap
    return keys


def index_function(owner_kind: str | None = None) -> Callable[..., Awaitable[dict[tuple[str, ...], Body]]]:
    """The ``kopf.index`` function for :func:`index_keys`. A coroutine: kopf runs a plain
    function in a thread pool, which on every watch event cost more than the indexing itself."""

    async def index(body: Mapping[str, Any], **_: Any) -> dict[tuple[str, ...], Body]:
        return index_keys(body, owner_kind)

    return index


def _version(body: Mapping[str, Any] | None) -> int | None:
    """The resourceVersion as a number (etcd's revision), or None where it is not one."""
    rv = str(((body or {}).get("metadata") or {}).get("resourceVersion") or "")
    return int(rv) if rv.isdigit() else None


def _newer_or_same(index_body: Body, expected: int | None) -> bool:
    have = _version(index_body)
    return expected is None or have is None or have >= expected


@dataclass
class _Expectation:
    body: Body | None  # None: we deleted it
    version: int | None  # of our write; for a deletion, of the version we deleted
    uid: str | None  # owner uid label value (children), for owned() lists
    at: float
    deleted: bool = False  # body is what our DELETE answered: absent from the index means gone


Ref = tuple[str, str, str, str]  # owner kind ("" for sedna.io kinds), plural, namespace, name


class WatchCache:
    """kopf indices plus the expectations of our own writes (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._indices: Mapping[str, Any] | None = None
        self._expected: dict[Ref, _Expectation] = {}
        self._clock = clock

    # Binding -----------------------------------------------------------------------------

    def bind(self, kwargs: Mapping[str, Any]) -> None:
        """Take the indices from a handler's kwargs (kopf passes every index to every handler;
        the first call happens only after all of them hold their initial listing)."""
        if self._indices is None:
            self._indices = {k: v for k, v in kwargs.items() if k.startswith("sedna-cache-")}

    @property
    def bound(self) -> bool:
        return self._indices is not None

    def covers(self, plural: str, owner_kind: str | None = None) -> bool:
        """Whether reads of ``plural`` (as children of ``owner_kind``) come from an index."""
        return self._indices is not None and index_id(plural, owner_kind) in self._indices

    # Reads -------------------------------------------------------------------------------

    def get(self, plural: str, namespace: str, name: str, owner_kind: str | None = None) -> Body | None:
        """The object as the index (or our newer write) holds it; None if absent. Only valid
        where :meth:`covers` is true."""
        return self._merge_one((owner_kind or "", plural, namespace, name), self._indexed(plural, namespace, name, owner_kind))

    def owned(self, plural: str, owner_kind: str, namespace: str, uid: str) -> list[Body]:
        """The children of ``plural`` carrying ``owner_kind``'s uid label with value ``uid``."""
        index = self._index(plural, owner_kind)
        key = ("uid", namespace, uid)
        found: dict[str, Body] = {}
        indexed: set[str] = set()
        for body in index[key] if key in index else ():
            name = str(body["metadata"]["name"])
            indexed.add(name)
            merged = self._merge_one((owner_kind, plural, namespace, name), body)
            if merged is not None:
                found[name] = merged
        # Our writes the index does not hold yet (new objects).
        for ref, exp in list(self._expected.items()):
            if ref[:3] == (owner_kind, plural, namespace) and exp.uid == uid and ref[3] not in indexed:
                merged = self._merge_one(ref, None)
                if merged is not None:
                    found[ref[3]] = merged
        return list(found.values())

    # Writes ------------------------------------------------------------------------------

    def wrote(
        self, plural: str, body: Mapping[str, Any], owner_kind: str | None = None, *, deleted: bool = False
    ) -> None:
        """Our write's response: what reads show until the index holds this version. With
        ``deleted`` it is what a DELETE answered (a pod, terminating): shown until the index
        catches up, and gone once the index no longer holds the object."""
        meta = body.get("metadata") or {}
        if not meta.get("name"):
            return
        ref = (owner_kind or "", plural, str(meta.get("namespace")), str(meta["name"]))
        self._expected[ref] = _Expectation(dict(body), _version(body), _owner_uid(body, owner_kind), self._clock(), deleted)

    def deleted(self, plural: str, namespace: str, name: str, owner_kind: str | None = None) -> None:
        """We deleted the object: reads hide the version we knew until the index drops it."""
        ref = (owner_kind or "", plural, namespace, name)
        previous = self._expected.get(ref)
        known = previous.body if previous is not None else None
        if known is None and self.covers(plural, owner_kind):
            known = self._indexed(plural, namespace, name, owner_kind)
        if known is None:
            self._expected.pop(ref, None)
            return
        self._expected[ref] = _Expectation(None, _version(known), _owner_uid(known, owner_kind), self._clock())

    def pending(self) -> int:
        """How many of our writes the watch has not shown yet (for metrics and tests)."""
        return len(self._expected)

    # Internals ---------------------------------------------------------------------------

    def _index(self, plural: str, owner_kind: str | None) -> Any:
        assert self._indices is not None, "WatchCache read before bind()"
        return self._indices[index_id(plural, owner_kind)]

    def _indexed(self, plural: str, namespace: str, name: str, owner_kind: str | None) -> Body | None:
        """The object as the index alone holds it."""
        index, key = self._index(plural, owner_kind), _name_key(namespace, name, owner_kind)
        return next(iter(index[key]), None) if key in index else None

    def _merge_one(self, ref: Ref, found: Body | None) -> Body | None:
        exp = self._expected.get(ref)
        if exp is None:
            return found
        if self._clock() - exp.at > EXPECTATION_TTL:
            del self._expected[ref]
            return found
        if exp.body is None:  # our deletion: hidden until gone, or replaced by a newer version
            have = _version(found)
            if found is None or (exp.version is not None and have is not None and have > exp.version):
                del self._expected[ref]
                return found
            return None
        if found is not None and _newer_or_same(found, exp.version):
            del self._expected[ref]
            return found
        if found is None and exp.deleted:
            # Our DELETE's answer (a pod) and the index no longer holds it: gone.
            del self._expected[ref]
            return None
        return exp.body
