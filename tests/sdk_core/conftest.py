"""Fixtures of the SDK core tests: environment isolation, free ports and a recording fake LC."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_ENV_KEYS = (
    "JOB_NAME", "SERVICE_NAME", "WORKER_NAME", "NAMESPACE", "LC_SERVER", "MODEL_URL", "MODEL_URLS",
    "MODEL_HOT_UPDATE", "MODEL_HOT_UPDATE_CONFIG", "MODEL_POLL_PERIOD_SECONDS", "HEM_NAME", "HEM_PARAMETERS",
    "BIG_MODEL_IP", "BIG_MODEL_PORT", "BIG_MODEL_BIND_IP", "BIG_MODEL_BIND_PORT", "LC_PERIOD", "MINING_MODE",
    "AGG_IP", "AGG_PORT", "AGG_PROTOCOL", "CONNECT_TIMEOUT", "OUTPUT_URL", "MIN_TRAIN_SAMPLE",
    "SEDNA_REPORT_TOKEN", "LC_REPORT_BUFFER_DIR", "KB_SERVER", "UTD_NAME", "HAS_COMPLETED_INITIAL_TRAINING",
    "BASE_MODEL_URL", "PARAMETERS", "BACKEND_TYPE", "AGG_NAME", "AGG_PARAMETERS", "PARTICIPANTS_COUNT",
    "DATASET_NAME", "AGG_BIND_IP", "AGG_BIND_PORT", "TRANSMITTER",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from sedna.common.config import BaseConfig
    from sedna.service.client import LCClient

    for key in _ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    BaseConfig.reset()
    LCClient._shared.clear()
    yield
    from sedna.service.lc_reporter import _REPORTERS

    for reporter in list(_REPORTERS):  # a test's workers end with it, not at interpreter exit
        reporter.stop()
    BaseConfig.reset()
    for client in LCClient._shared.values():
        client.close()
    LCClient._shared.clear()


class FakeLC:
    """A tiny HTTP server recording ``POST /sedna/workers/{name}/info`` bodies."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.reports: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.fail = False
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                name = self.path.split("/")[3] if self.path.count("/") >= 4 else ""
                ok = self.path.startswith("/sedna/workers/") and body.get("name") == name
                with outer._lock:
                    if ok:
                        outer.reports.append(body)
                        outer.paths.append(self.path)
                        outer.headers.append(dict(self.headers))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"Status":200,"Message":"OK"}' if ok else b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.reports if r.get("kind") == kind]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_lc(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLC]:
    lc = FakeLC()
    monkeypatch.setenv("LC_SERVER", lc.url)
    yield lc
    lc.stop()
