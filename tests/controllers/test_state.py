"""Typed controllerState: old state parses, writes are diffs with explicit deletions, and the
IL/LL cycle's removed keys really go (with the merge both runtimes use)."""

from __future__ import annotations

from typing import Any

from sedna_operator.api import parse_resource
from sedna_operator.controllers.state import FederatedState, IncrementalState, LifelongState
from sedna_operator.core.merge import diff_patch, merge_patch

from .helpers import apply
from .state_scenario import stale_succeeded_seen
from .test_incrementallearning import job

OLD_IL_STATE: dict[str, Any] = {
    # as written by the free-form state of the previous release, for a job in flight
    "attempts": {"train-r1": 1},
    "baseline": 560,
    "previousBaseline": 0,
    "lastCheck": "2024-05-01T12:00:00Z",
    "roundData": {"round": 1, "train": "/out/data/train/1/data.txt"},
    "succeededSeen": "2024-05-01T12:00:05Z",
    "deployedModel": "/out/train/1/model.pb",
    "somethingOlder": {"kept": True},
}


def test_old_free_form_state_parses_and_round_trips() -> None:
    state = IncrementalState.from_wire(OLD_IL_STATE)
    assert state.attempts == {"train-r1": 1} and state.baseline == 560 and state.previous_baseline == 0
    assert state.round_data == {"round": 1, "train": "/out/data/train/1/data.txt"}
    assert state.deployed_model == "/out/train/1/model.pb" and state.succeeded_seen == "2024-05-01T12:00:05Z"
    assert state.to_wire() == OLD_IL_STATE  # unknown keys kept, nothing renamed
    assert state.patch(OLD_IL_STATE) == {}


def test_unreadable_known_key_is_dropped_and_deleted_on_write() -> None:
    raw = {"baseline": "not a number", "completedRounds": 2}
    state = IncrementalState.from_wire(raw)
    assert state.baseline == 0 and state.completed_rounds == 2
    assert state.patch(raw) == {"baseline": None}


def test_removed_fields_and_map_entries_are_written_as_null() -> None:
    stored = {"restarts": {"train-0": 1}, "backoffUntil": {"train-0": "2024-05-01T12:00:05Z", "train-1": "x"},
              "aggregatorSucceededAt": "2024-05-01T12:00:00Z", "failures": 1}  # fmt: skip
    state = FederatedState.from_wire(stored)
    state.backoff_until.pop("train-0")
    state.aggregator_succeeded_at = None
    patch = state.patch(stored)
    assert patch == {"backoffUntil": {"train-0": None}, "aggregatorSucceededAt": None}
    assert merge_patch(stored, patch) == state.to_wire()


def test_diff_patch_is_the_inverse_of_merge_patch() -> None:
    before = {"a": 1, "b": {"c": [1, 2], "d": {"e": 1}}, "f": "x", "g": {"h": 1}}
    after = {"a": 2, "b": {"c": [1], "d": {}}, "g": {"h": 1}, "i": {"j": {"k": 1}}}
    patch = diff_patch(before, after)
    assert patch == {"a": 2, "b": {"c": [1], "d": {"e": None}}, "f": None, "i": {"j": {"k": 1}}}
    assert merge_patch(before, patch) == after
    assert diff_patch(after, after) == {}


def test_lifelong_state_keeps_its_own_keys() -> None:
    state = LifelongState.from_wire({"deployedRound": 2, "inferenceEpoch": 1, "deploy": {"round": 2}})
    assert (state.deployed_round, state.inference_epoch, state.deploy) == (2, 1, {"round": 2})
    state.deploy = None
    assert state.to_wire() == {"deployedRound": 2, "inferenceEpoch": 1}


def test_state_is_read_from_the_resource() -> None:
    obj = job()
    obj["status"] = {"controllerState": dict(OLD_IL_STATE)}
    assert IncrementalState.of(parse_resource(obj)).baseline == 560


def test_succeeded_seen_is_removed_between_stages_with_the_runtimes_merge() -> None:
    stale_succeeded_seen(apply)
