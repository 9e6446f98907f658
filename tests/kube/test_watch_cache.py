"""The operator's read path (runtime/kubernetes/cache.py): what its watch indices show, merged
with its own writes that the watch has not delivered yet.

The indices here are kopf's own ``kopf.Index`` mapping interface (key -> iterable of values),
filled by the very index functions the handlers register. The operator on a real API server,
reading through them, is tested in ``test_operator_workloads.py`` (no GET while a
JointInferenceService comes up) and by every other test of this package.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sedna_operator.runtime.kubernetes.cache import (
    EXPECTATION_TTL,
    WatchCache,
    index_function,
    index_id,
    index_keys,
)

KIND = "JointInferenceService"
UID_LABEL = "jointinferenceservice.sedna.io/uid"


class FakeIndices:
    """kopf's indices as handlers receive them: index id -> {key: [values]}, filled with the
    handlers' own index functions."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {
            index_id("deployments", KIND): {},
            index_id("services", KIND): {},
            index_id("models"): {},
        }

    def put(self, plural: str, body: dict[str, Any], owner: str | None = KIND) -> None:
        index = self.kwargs[index_id(plural, owner)]
        self.drop(plural, body["metadata"]["name"], owner)
        for key, value in index_keys(body, owner).items():
            index.setdefault(key, []).append(value)

    def drop(self, plural: str, name: str, owner: str | None = KIND) -> None:
        index = self.kwargs[index_id(plural, owner)]
        for key in list(index):
            index[key] = [v for v in index[key] if v["metadata"]["name"] != name]
            if not index[key]:
                del index[key]


def _obj(name: str, rv: int, uid: str = "u-1", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv), "labels": {UID_LABEL: uid}},
        **extra,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cache(indices: FakeIndices, clock: Clock | None = None) -> WatchCache:
    cache = WatchCache(clock or Clock())
    cache.bind({"body": {}, "logger": None, **indices.kwargs})
    return cache


def test_before_bind_nothing_is_covered_and_after_bind_only_the_indexed_resources() -> None:
    cache = WatchCache()
    assert not cache.bound and not cache.covers("deployments", KIND)
    indices = FakeIndices()
    cache.bind(indices.kwargs)
    assert cache.covers("deployments", KIND) and cache.covers("models")
    assert not cache.covers("pods", KIND)  # no index for it here: reads go to the API
    assert not cache.covers("secrets")


def test_an_own_create_is_seen_before_its_watch_event_and_the_index_takes_over() -> None:
    indices = FakeIndices()
    cache = _cache(indices)
    assert cache.owned("deployments", KIND, "ns", "u-1") == []
    cache.wrote("deployments", _obj("d-cloud", 10, spec={"v": "ours"}), KIND)
    assert [d["spec"] for d in cache.owned("deployments", KIND, "ns", "u-1")] == [{"v": "ours"}]
    assert cache.get("deployments", "ns", "d-cloud", KIND)["spec"] == {"v": "ours"}
    assert cache.owned("deployments", KIND, "ns", "other-uid") == []
    # The watch delivers our write, then the controller's next version: the index wins.
    indices.put("deployments", _obj("d-cloud", 12, spec={"v": "controller"}))
    assert [d["spec"] for d in cache.owned("deployments", KIND, "ns", "u-1")] == [{"v": "controller"}]
    assert cache.pending() == 0


def test_an_index_older_than_our_write_does_not_hide_it() -> None:
    indices = FakeIndices()
    cache = _cache(indices)
    indices.put("deployments", _obj("d-edge", 5, spec={"template": "old"}))
    cache.wrote("deployments", _obj("d-edge", 9, spec={"template": "new"}), KIND)  # our PUT
    assert cache.get("deployments", "ns", "d-edge", KIND)["spec"] == {"template": "new"}
    indices.put("deployments", _obj("d-edge", 9, spec={"template": "new"}))
    assert cache.get("deployments", "ns", "d-edge", KIND)["spec"] == {"template": "new"}
    assert cache.pending() == 0


def test_a_deletion_hides_the_object_until_the_index_drops_it_and_a_recreation_shows() -> None:
    indices = FakeIndices()
    cache = _cache(indices)
    indices.put("services", _obj("svc", 3))
    cache.deleted("services", "ns", "svc", KIND)
    assert cache.get("services", "ns", "svc", KIND) is None
    assert cache.owned("services", KIND, "ns", "u-1") == []
    assert cache.owned("services", KIND, "ns", "u-1") == [] and cache.pending() == 1  # still hidden
    indices.drop("services", "svc")
    assert cache.get("services", "ns", "svc", KIND) is None and cache.pending() == 0
    # Deleted again while the index still shows it, and someone recreates it meanwhile.
    indices.put("services", _obj("svc", 20))
    cache.deleted("services", "ns", "svc", KIND)
    indices.put("services", _obj("svc", 25))
    assert cache.get("services", "ns", "svc", KIND)["metadata"]["resourceVersion"] == "25"


def test_a_write_the_watch_never_confirms_expires() -> None:
    indices, clock = FakeIndices(), Clock()
    cache = _cache(indices, clock)
    cache.wrote("deployments", _obj("ghost", 40), KIND)
    assert len(cache.owned("deployments", KIND, "ns", "u-1")) == 1
    clock.now += EXPECTATION_TTL + 1
    assert cache.owned("deployments", KIND, "ns", "u-1") == []
    assert cache.pending() == 0


def test_sedna_objects_are_indexed_by_namespace_and_name_and_status_writes_show_at_once() -> None:
    indices = FakeIndices()
    cache = _cache(indices)
    indices.put("models", {"metadata": {"name": "m", "namespace": "ns", "resourceVersion": "7"}}, owner=None)
    assert cache.get("models", "ns", "m")["metadata"]["resourceVersion"] == "7"
    assert cache.get("models", "other", "m") is None
    patched = {"metadata": {"name": "m", "namespace": "ns", "resourceVersion": "8"}, "status": {"x": 1}}
    cache.wrote("models", patched)
    assert cache.get("models", "ns", "m")["status"] == {"x": 1}


def test_children_are_found_by_name_and_by_owner_uid() -> None:
    body = _obj("d-1", 1)
    # What kopf calls (a coroutine, so kopf does not hand it to a thread pool).
    keys = asyncio.run(index_function(KIND)(body=body, logger=None))
    assert set(keys) == {("name", "ns", "d-1"), ("uid", "ns", "u-1")}
    unlabelled = {"metadata": {"name": "d-2", "namespace": "ns"}}
    assert set(index_keys(unlabelled, KIND)) == {("name", "ns", "d-2")}
    assert set(index_keys(body)) == {("ns", "d-1")}


def test_a_pod_we_deleted_shows_terminating_until_the_index_drops_it() -> None:
    """A pod's DELETE answers with the pod, terminating (what a fresh read shows); once the
    watch drops it, it is gone at once, not held for the expectation's lifetime."""
    indices = FakeIndices()
    indices.kwargs[index_id("pods", KIND)] = {}
    cache = _cache(indices)
    indices.put("pods", _obj("worker", 5))
    terminating = _obj("worker", 6)
    terminating["metadata"]["deletionTimestamp"] = "2026-12-02T00:00:00Z"
    cache.wrote("pods", terminating, KIND, deleted=True)
    [seen] = cache.owned("pods", KIND, "ns", "u-1")
    assert seen["metadata"]["deletionTimestamp"]
    indices.drop("pods", "worker")  # the DELETED event
    assert cache.owned("pods", KIND, "ns", "u-1") == [] and cache.pending() == 0


def test_a_pod_deleted_at_once_is_not_held_as_a_live_pod() -> None:
    """An unscheduled pod is deleted at once and the DELETE answers with the pod as it was (no
    deletionTimestamp): once the watch drops it, it is gone."""
    indices = FakeIndices()
    indices.kwargs[index_id("pods", KIND)] = {}
    cache = _cache(indices)
    indices.put("pods", _obj("pending-worker", 5))
    cache.wrote("pods", _obj("pending-worker", 5), KIND, deleted=True)
    indices.drop("pods", "pending-worker")
    assert cache.owned("pods", KIND, "ns", "u-1") == [] and cache.get("pods", "ns", "pending-worker", KIND) is None
