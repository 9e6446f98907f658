"""Issue 12 items 6, 7 and 10 on the market: writes authenticated by default, per-uploader
ownership, alias bombs in learnware.yaml, per-package bounds and a market-wide storage quota.

Every test drives a real uvicorn server on 127.0.0.1 over HTTP.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sqlite3
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from sedna_market.auth import AuthConfigError
from sedna_market.client import MarketClient, MarketError
from sedna_market.service import create_app
from sedna_market.settings import MarketSettings


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()

ALICE, BOB, OPS = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef", "ops-token-0123456789abcdef"
USERS = {ALICE: {"user": "alice", "admin": False}, BOB: {"user": "bob"}, OPS: {"user": "ops", "admin": True}}
AUTH_ENV = ("MARKET_API_TOKEN", "MARKET_TOKENS", "MARKET_TOKENS_FILE", "MARKET_INSECURE",
            "SEDNA_MARKET_MAX_PACKAGE_BYTES", "SEDNA_MARKET_MAX_PACKAGE_FILES", "SEDNA_MARKET_MAX_STORAGE_BYTES",
            "SEDNA_MARKET_MAX_YAML_NODES", "MARKET_JOB_TOKEN_KEY")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in AUTH_ENV:
        monkeypatch.delenv(key, raising=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(tmp: Path, **kw: Any) -> Iterator[str]:
    """The market on a real server, with ``kw`` as MarketSettings."""
    kw.setdefault("check_timeout_s", 10)
    settings = MarketSettings(db_url=f"sqlite:///{tmp / 'kb.db'}", storage_dir=tmp / "store", **kw)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _upload(url: str, data: bytes, semantic: Any, token: str | None) -> httpx.Response:
    return httpx.post(f"{url}/api/v1/learnwares", files={"file": ("p.zip", data, "application/zip")},
                      data={"semantic_spec": json.dumps(semantic().to_dict())},
                      headers=_bearer(token) if token else {}, timeout=30)


def _stored_blobs(tmp: Path) -> list[Path]:
    return [p for p in (tmp / "store" / "blobs").rglob("*") if p.is_file()]


# -- 1. authenticated writes by default --------------------------------------------------------
def test_a_market_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError) as exc:
        create_app(MarketSettings(db_url=f"sqlite:///{tmp_path / 'kb.db'}", storage_dir=tmp_path / "store"))
    message = str(exc.value)
    assert "MARKET_API_TOKEN" in message and "--insecure" in message
    assert not (tmp_path / "store").exists()  # refused before anything was created


def test_kb_serve_without_a_token_exits_with_the_reason(tmp_path: Path) -> None:
    from sedna_market.cli import app

    result = CliRunner().invoke(app, ["serve", "--db-url", f"sqlite:///{tmp_path / 'kb.db'}",
                                      "--storage-dir", str(tmp_path / "store"), "--port", str(_free_port())])
    assert result.exit_code == 2, result.output
    assert "no write token" in result.output and "--insecure" in result.output
    help_text = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    for option in ("--insecure", "--tokens-file", "--max-package-mb", "--max-package-files", "--max-storage-gb"):
        assert option in help_text


def test_an_insecure_market_says_so_and_takes_anonymous_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_package: Callable[..., bytes], semantic: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="sedna_market"), serve(tmp_path, insecure=True,
                                                                        run_stat_check=False) as url:
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("INSECURE" in w and "anyone may upload" in w for w in warnings)
        assert any("#####" in w for w in warnings)  # the banner
        assert httpx.get(f"{url}/healthz").json()["auth"] == "insecure"
        r = _upload(url, make_package("good"), semantic, token=None)
        assert r.status_code == 202, r.text
        assert r.json()["uploader"] == "anonymous"
        assert httpx.delete(f"{url}/api/v1/learnwares/{r.json()['id']}").status_code == 200


def test_insecure_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKET_INSECURE", "1")
    assert MarketSettings().insecure
    monkeypatch.setenv("MARKET_INSECURE", "0")
    assert not MarketSettings().insecure


def test_tokens_with_insecure_still_need_a_token(tmp_path: Path) -> None:
    with serve(tmp_path, api_token=OPS, insecure=True) as url:
        assert httpx.get(f"{url}/healthz").json()["auth"] == "token"
        r = httpx.post(f"{url}/knowledgebase/update/status", json={"tasks": "a", "status": 1})
        assert r.status_code == 401


# -- 2. per-uploader ownership -------------------------------------------------------------------
def test_two_users_each_delete_only_their_own_models(
    tmp_path: Path, make_package: Callable[..., bytes], semantic: Any
) -> None:
    with serve(tmp_path, tokens=json.dumps(USERS), run_stat_check=False) as url:
        a = _upload(url, make_package("good", seed=1), semantic, ALICE)
        b = _upload(url, make_package("good", seed=2), semantic, BOB)
        assert a.status_code == b.status_code == 202
        aid, bid = a.json()["id"], b.json()["id"]
        assert a.json()["uploader"] == "alice"
        # the uploader is public: reads need no token
        assert httpx.get(f"{url}/api/v1/learnwares/{aid}").json()["uploader"] == "alice"
        assert {i["id"]: i["uploader"] for i in httpx.get(f"{url}/api/v1/learnwares").json()} == {
            aid: "alice", bid: "bob"}
        # bob may not delete alice's model, and is told why
        r = httpx.delete(f"{url}/api/v1/learnwares/{aid}", headers=_bearer(BOB))
        assert r.status_code == 403
        assert "uploaded by user 'alice'" in r.json()["detail"] and "'bob'" in r.json()["detail"]
        assert httpx.get(f"{url}/api/v1/learnwares/{aid}").status_code == 200
        # unknown tokens are still 401
        assert httpx.delete(f"{url}/api/v1/learnwares/{aid}", headers=_bearer("nobody-0123456789")).status_code == 401
        # the owner may; an admin may delete anyone's
        with MarketClient(url, token=ALICE) as alice:
            assert alice.delete(aid)
        with MarketClient(url, token=OPS) as ops:
            assert ops.delete(bid)
        assert httpx.get(f"{url}/api/v1/learnwares").json() == []


def test_knowledge_base_files_are_overwritten_only_by_their_owner(tmp_path: Path) -> None:
    with serve(tmp_path, tokens=json.dumps(USERS)) as url:
        def put(token: str, content: bytes) -> httpx.Response:
            return httpx.post(f"{url}/knowledgebase/update", files={"task": ("t.pkl", content)},
                              headers=_bearer(token))

        assert put(ALICE, b"alice's index").status_code == 200
        r = put(BOB, b"bob's index")
        assert r.status_code == 403 and "'alice'" in r.json()["detail"]
        r = httpx.post(f"{url}/knowledgebase/file/upload", files={"file": ("index.pkl", b"x")}, headers=_bearer(BOB))
        assert r.status_code == 403
        got = httpx.get(f"{url}/knowledgebase/file/download", params={"files": "index.pkl"})
        assert got.content == b"alice's index"
        assert put(ALICE, b"alice again").status_code == 200
        assert put(OPS, b"admin fix").status_code == 200
        assert httpx.get(f"{url}/knowledgebase/file/download", params={"files": "index.pkl"}).content == b"admin fix"
        # bob's own files are his
        r = httpx.post(f"{url}/knowledgebase/file/upload", files={"file": ("bob.bin", b"b")}, headers=_bearer(BOB))
        assert r.status_code == 200


def test_the_single_token_is_an_admin_and_files_mix(tmp_path: Path, make_package: Callable[..., bytes],
                                                    semantic: Any) -> None:
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(json.dumps({ALICE: USERS[ALICE]}))
    with serve(tmp_path, api_token=OPS, tokens_file=tokens_file, run_stat_check=False) as url:
        aid = _upload(url, make_package("good"), semantic, ALICE).json()["id"]
        r = httpx.delete(f"{url}/api/v1/learnwares/{aid}", headers=_bearer(OPS))
        assert r.status_code == 200, r.text


def test_rows_stored_before_owners_were_recorded_belong_to_admins(
    tmp_path: Path, make_package: Callable[..., bytes], semantic: Any
) -> None:
    """A database from before the uploader column gets it on start (no migration tool); its
    models have no recorded owner, so only admins may delete them."""
    from sedna_market.market import Market
    from sedna_market.organizer import Organizer

    db = tmp_path / "kb.db"
    rec = Market(Organizer(f"sqlite:///{db}", tmp_path / "store"), run_stat_check=False).submit(
        make_package("good"), semantic())
    with sqlite3.connect(db) as conn:  # back to the old schema: no uploader column
        conn.execute("ALTER TABLE market_learnwares DROP COLUMN uploader")
        assert "uploader" not in [c[1] for c in conn.execute("PRAGMA table_info(market_learnwares)")]
    with serve(tmp_path, tokens=json.dumps(USERS), run_stat_check=False) as url:
        assert httpx.get(f"{url}/api/v1/learnwares/{rec.id}").json()["uploader"] == ""
        r = httpx.delete(f"{url}/api/v1/learnwares/{rec.id}", headers=_bearer(ALICE))
        assert r.status_code == 403 and "before uploaders were recorded" in r.json()["detail"]
        assert httpx.delete(f"{url}/api/v1/learnwares/{rec.id}", headers=_bearer(OPS)).status_code == 200


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"tok-0123456789abcdef": {"admin": true}}', '"user"'),
        ('{"tok-0123456789abcdef": {"user": "a b"}}', "user name 'a b'"),
        ('{"tok-0123456789abcdef": {"user": "a", "admin": "yes"}}', "true or false"),
        ('{"tok-0123456789abcdef": {"user": "a", "role": "admin"}}', "unknown field"),
    ],
)
def test_bad_token_settings_are_refused_with_the_reason(tmp_path: Path, tokens: str, message: str) -> None:
    with pytest.raises(AuthConfigError) as exc:
        create_app(MarketSettings(db_url="sqlite://", storage_dir=tmp_path / "s", tokens=tokens))
    assert message in str(exc.value)
    with pytest.raises(AuthConfigError):
        create_app(MarketSettings(db_url="sqlite://", storage_dir=tmp_path / "s", tokens_file=tmp_path / "missing"))


# -- 3. alias bombs in learnware.yaml ------------------------------------------------------------
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
) + "model: {class_name: Model, kwargs: {p: *i}}\n"


def test_an_alias_bomb_in_learnware_yaml_is_refused_quickly(
    tmp_path: Path, make_package: Callable[..., bytes], semantic: Any
) -> None:
    assert len(BOMB) < 600
    good = zipfile.ZipFile(io.BytesIO(make_package("good")))
    files: dict[str, str | bytes] = {n: good.read(n) for n in good.namelist()}
    files["learnware.yaml"] = BOMB
    with serve(tmp_path, api_token=OPS) as url:
        start = time.monotonic()
        r = _upload(url, make_zip(files), semantic, OPS)
        assert time.monotonic() - start < 5
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert "learnware.yaml" in detail and "10,000 nodes" in detail and "SEDNA_MARKET_MAX_YAML_NODES" in detail
        assert httpx.get(f"{url}/api/v1/learnwares").json() == []
        assert not _stored_blobs(tmp_path)


def test_the_yaml_bound_is_a_setting(tmp_path: Path, make_package: Callable[..., bytes], semantic: Any) -> None:
    good = zipfile.ZipFile(io.BytesIO(make_package("good")))
    files: dict[str, str | bytes] = {n: good.read(n) for n in good.namelist()}
    files["learnware.yaml"] = "k: &k [1, 2, 3, 4, 5]\nmodel: {class_name: Model, kwargs: {a: *k, b: *k, c: *k}}\n"
    with serve(tmp_path, api_token=OPS, max_yaml_nodes=20, run_stat_check=False) as url:
        r = _upload(url, make_zip(files), semantic, OPS)
        assert r.status_code == 422 and "more than 20 nodes" in r.json()["detail"]
        assert _upload(url, make_package("good"), semantic, OPS).status_code == 202


def test_a_deeply_nested_learnware_yaml_is_a_422_not_a_500(
    tmp_path: Path, make_package: Callable[..., bytes], semantic: Any
) -> None:
    good = zipfile.ZipFile(io.BytesIO(make_package("good")))
    files: dict[str, str | bytes] = {n: good.read(n) for n in good.namelist()}
    files["learnware.yaml"] = "model: " + "[" * 2000 + "]" * 2000 + "\n"
    with serve(tmp_path, api_token=OPS) as url:
        r = _upload(url, make_zip(files), semantic, OPS)
        assert r.status_code == 422, r.text
        assert "nests deeper than 100 levels" in r.json()["detail"]


def test_the_operator_and_the_market_share_one_bounded_loader() -> None:
    from sedna.common import yamlbound
    from sedna_market import package
    from sedna_operator.api import yamlio

    assert issubclass(yamlio.ManifestLoader, yamlbound.BoundedSafeLoader)
    assert yamlio.AliasExpansionError is yamlbound.AliasExpansionError
    assert package.safe_load_bounded is yamlbound.safe_load_bounded
    with pytest.raises(yamlbound.AliasExpansionError, match="SEDNA_MAX_YAML_NODES"):
        yamlio.load_manifests(BOMB)  # ~4 * 10^8 nodes: over the operator's 1,000,000 too


# -- 4. per-package bounds and the storage quota ---------------------------------------------------
def _zeros_package(make_package: Callable[..., bytes], zeros: int, extra_files: int = 0) -> bytes:
    good = zipfile.ZipFile(io.BytesIO(make_package("good")))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in good.namelist():
            zf.writestr(name, good.read(name))
        if zeros:
            zf.writestr("zeros.bin", b"\0" * zeros)
        for i in range(extra_files):
            zf.writestr(f"extra/{i}.txt", "x")
    return buf.getvalue()


def test_per_package_bounds_are_settings_and_answer_413(
    tmp_path: Path, make_package: Callable[..., bytes], semantic: Any
) -> None:
    with serve(tmp_path, api_token=OPS, max_package_bytes=4 * 1024 * 1024, max_package_files=10,
               run_stat_check=False) as url:
        zeros = _zeros_package(make_package, 8 * 1024 * 1024)
        assert len(zeros) < 64 * 1024  # a small upload that unpacks to 8 MiB
        r = _upload(url, zeros, semantic, OPS)
        assert r.status_code == 413, r.text
        assert "4194304 bytes" in r.json()["detail"] and "max_package_bytes" in r.json()["detail"]
        r = _upload(url, _zeros_package(make_package, 0, extra_files=10), semantic, OPS)
        assert r.status_code == 413 and "10 files" in r.json()["detail"]
        assert not _stored_blobs(tmp_path)
        assert _upload(url, _zeros_package(make_package, 1024, extra_files=2), semantic, OPS).status_code == 202


def test_package_bounds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEDNA_MARKET_MAX_PACKAGE_BYTES", "1000")
    monkeypatch.setenv("SEDNA_MARKET_MAX_PACKAGE_FILES", "7")
    monkeypatch.setenv("SEDNA_MARKET_MAX_STORAGE_BYTES", "5000")
    monkeypatch.setenv("SEDNA_MARKET_MAX_YAML_NODES", "99")
    s = MarketSettings()
    assert (s.max_package_bytes, s.max_package_files, s.max_storage_bytes, s.max_yaml_nodes) == (1000, 7, 5000, 99)
    monkeypatch.setenv("SEDNA_MARKET_MAX_STORAGE_BYTES", "ten")
    with pytest.raises(ValueError, match="SEDNA_MARKET_MAX_STORAGE_BYTES='ten'"):
        MarketSettings()


def test_the_market_wide_quota_refuses_with_507_until_space_is_freed(
    tmp_path: Path, make_package: Callable[..., bytes], semantic: Any
) -> None:
    one = _zeros_package(make_package, 3 * 1024 * 1024)
    two = _zeros_package(make_package, 3 * 1024 * 1024 + 1)
    # room for one package (zip + its 3 MiB unpacked), not for two
    with serve(tmp_path, api_token=OPS, max_storage_bytes=5 * 1024 * 1024, run_stat_check=False) as url:
        first = _upload(url, one, semantic, OPS)
        assert first.status_code == 202, first.text
        r = _upload(url, two, semantic, OPS)
        assert r.status_code == 507, r.text
        assert "storage quota" in r.json()["detail"] and "max_storage_bytes" in r.json()["detail"]
        assert len(httpx.get(f"{url}/api/v1/learnwares").json()) == 1
        assert len(_stored_blobs(tmp_path)) == 1
        # the same bytes again take no new space
        assert _upload(url, one, semantic, OPS).status_code == 202
        # knowledge-base files count too
        r = httpx.post(f"{url}/knowledgebase/file/upload", files={"file": ("big.bin", b"\0" * (3 * 1024 * 1024))},
                       headers=_bearer(OPS))
        assert r.status_code == 507, r.text
        for info in httpx.get(f"{url}/api/v1/learnwares").json():
            assert httpx.delete(f"{url}/api/v1/learnwares/{info['id']}", headers=_bearer(OPS)).status_code == 200
        assert _upload(url, two, semantic, OPS).status_code == 202
    # a restart counts what is on disk
    with serve(tmp_path, api_token=OPS, max_storage_bytes=5 * 1024 * 1024, run_stat_check=False) as url:
        assert _upload(url, one, semantic, OPS).status_code == 507


def test_the_client_reports_quota_errors(tmp_path: Path, make_package: Callable[..., bytes], semantic: Any) -> None:
    with serve(tmp_path, api_token=OPS, max_storage_bytes=1024, run_stat_check=False) as url, \
            MarketClient(url, token=OPS) as client, pytest.raises(MarketError) as exc:
        client.submit(make_package("good"), semantic())
    assert exc.value.status_code == 507


def test_jobs_write_with_their_own_derived_tokens(tmp_path: Path, make_package: Callable[..., bytes], semantic: Any) -> None:
    """The operator gives each LL job ``MARKET_API_TOKEN`` = a token derived from the key it
    shares with the market: the job writes as ``job:<ns>/<name>``, never as an admin, and a token
    for one job or a forged one does not pass for another."""
    from sedna.common.jobtoken import market_job_token

    key = "shared-job-key-0123456789abcdef"
    job_a, job_b = market_job_token(key, "ns1", "ll-a"), market_job_token(key, "ns1", "ll-b")
    forged = market_job_token("another-key-0123456789abcdef", "ns1", "ll-a")
    with serve(tmp_path, tokens=json.dumps(USERS), job_token_key=key, run_stat_check=False) as url:
        a = _upload(url, make_package("good", seed=3), semantic, job_a)
        assert a.status_code == 202 and a.json()["uploader"] == "job:ns1/ll-a"
        assert _upload(url, make_package("good", seed=4), semantic, forged).status_code == 401
        tampered = job_a[:-1] + ("0" if job_a[-1] != "0" else "1")
        assert _upload(url, make_package("good", seed=4), semantic, tampered).status_code == 401
        r = httpx.delete(f"{url}/api/v1/learnwares/{a.json()['id']}", headers=_bearer(job_b))
        assert r.status_code == 403 and "job:ns1/ll-a" in r.json()["detail"]
        assert httpx.delete(f"{url}/api/v1/learnwares/{a.json()['id']}", headers=_bearer(job_a)).status_code == 200
    with pytest.raises(AuthConfigError, match="no admin token"):
        create_app(MarketSettings(db_url="sqlite://", storage_dir=tmp_path / "s2", job_token_key=key))
