"""The market on a real PostgreSQL server, as the chart runs it with ``kb.databaseUrl``: the
``sedna kb serve`` process gets ``KB_URL=postgresql://...`` (plain URL, no driver named) and a
token from the environment; what it stores survives a restart of the process (issue 13 item 4).
The organizer suite itself runs on PostgreSQL too (``db_url`` in conftest)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sedna_market.client import MarketClient
from tests.support.postgres import PostgresServer

TOKEN = "pg-tier-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, store: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KB_URL": url, "MARKET_API_TOKEN": TOKEN, "KnowledgeBasePath": str(store)}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sedna"), "kb", "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sedna kb serve exited {proc.returncode}: {proc.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("sedna kb serve did not answer /healthz within 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_the_served_market_keeps_its_models_in_postgresql(tmp_path, postgres: PostgresServer, make_package, semantic) -> None:
    url = postgres.create_database().replace("postgresql+psycopg://", "postgresql://")
    port = _free_port()
    proc = _serve(url, tmp_path / "store", port)
    try:
        with MarketClient(f"http://127.0.0.1:{port}", token=TOKEN) as client:
            first = client.submit(make_package("good"), semantic(name="pg model one"), wait=True)
            second = client.submit(make_package("good"), semantic(name="pg model two"), wait=True)
            assert client.wait_checked(first.id).check_state != "pending"
    finally:
        _stop(proc)
    import psycopg  # the rows are in PostgreSQL, not in a SQLite file beside the store

    with psycopg.connect(url) as conn:
        names = sorted(r[0] for r in conn.execute("SELECT name FROM market_learnwares"))
    assert names == ["pg model one", "pg model two"]
    assert not list(tmp_path.rglob("*.sqlite3"))

    proc = _serve(url, tmp_path / "store", port)  # a restarted market (a new pod) sees them
    try:
        with MarketClient(f"http://127.0.0.1:{port}", token=TOKEN) as client:
            listed = {m.id: m for m in client.list()}
            assert set(listed) == {first.id, second.id}
            assert listed[first.id].uploader == "admin"
            assert client.delete(second.id)
            assert [m.id for m in client.list()] == [first.id]
    finally:
        _stop(proc)
