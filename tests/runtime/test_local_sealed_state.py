"""Issue 12 item 8: ``state.db`` holds no secret in clear. Secret objects are sealed under a key
derived from ``state.key`` (0600), which also holds the LC signing key; state written before the
key file existed is migrated on open without breaking adopted workers' tokens."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from sedna_operator.runtime.local.keyfile import KEY_FILE
from sedna_operator.runtime.local.loop import new_secret
from sedna_operator.runtime.local.store import Store

VALUE = "s3cr3t-v4lue-never-in-clear"


def _secret(name: str = "s3") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "ns1"},
        "data": {"SECRET_ACCESS_KEY": base64.b64encode(VALUE.encode()).decode()},
        "stringData": {"PLAIN": VALUE},
    }


def _raw_bytes(state: Path) -> bytes:
    """Everything SQLite keeps on disk for the database (the WAL included)."""
    return b"".join(p.read_bytes() for p in sorted(state.glob("state.db*")))


def test_secrets_and_the_lc_key_are_not_in_the_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = Store(state)
    store.put_object(_secret())
    lc_key = new_secret(store)
    store.put_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns1"},
                      "data": {"k": "visible"}})
    store.close()
    raw = _raw_bytes(state)
    assert raw  # the database was written
    for needle in (VALUE, base64.b64encode(VALUE.encode()).decode(), lc_key):
        assert needle.encode() not in raw
    assert b"visible" in raw  # ConfigMaps are not secret and stay readable with sqlite3
    key_file = state / KEY_FILE
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert lc_key in key_file.read_text()

    again = Store(state)  # a resumed run reads the same Secret and signs with the same key
    assert again.objects("Secret")[("ns1", "s3")]["stringData"] == {"PLAIN": VALUE}
    assert new_secret(again) == lc_key


def test_state_written_before_the_key_file_is_migrated_in_place(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Store(state).close()  # creates the schema
    (state / KEY_FILE).unlink()
    legacy_key = "ab" * 32
    with sqlite3.connect(state / "state.db") as db:  # what older versions wrote
        db.execute("INSERT INTO meta (key, value) VALUES ('lc_secret', ?)", (legacy_key,))
        db.execute("INSERT INTO objects (kind, namespace, name, body) VALUES ('Secret', 'ns1', 's3', ?)",
                   (json.dumps(_secret()),))
    store = Store(state)
    assert new_secret(store) == legacy_key  # adopted workers' report tokens stay valid
    assert store.objects("Secret")[("ns1", "s3")]["stringData"] == {"PLAIN": VALUE}
    store.close()
    with sqlite3.connect(state / "state.db") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'lc_secret'").fetchall() == []
        (body,) = db.execute("SELECT body FROM objects WHERE kind = 'Secret'").fetchone()
    assert VALUE not in body and body.startswith("sealed:")


def test_a_lost_key_file_drops_the_sealed_secrets_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    store = Store(state)
    store.put_object(_secret())
    old_key = new_secret(store)
    store.close()
    (state / KEY_FILE).unlink()
    with caplog.at_level(logging.WARNING):
        store = Store(state)
        assert store.objects("Secret") == {}
    assert "Secret ns1/s3 cannot be read" in caplog.text and "apply its manifest again" in caplog.text
    assert new_secret(store) != old_key
    store.put_object(_secret())  # given again, it is readable again
    assert store.objects("Secret")[("ns1", "s3")]["stringData"] == {"PLAIN": VALUE}
