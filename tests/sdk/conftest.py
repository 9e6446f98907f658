"""Fixtures of the SDK unit tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sedna.common.config import BaseConfig


@pytest.fixture(autouse=True)
def _clean_config() -> Iterator[None]:
    BaseConfig.reset()
    yield
    BaseConfig.reset()


class _Handler(SimpleHTTPRequestHandler):
    """Static files from the served directory, PUT uploads into it, and /flaky which
    fails with 503 once before answering."""

    flaky_calls: dict[str, int] = {}

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/flaky"):
            count = self.flaky_calls.get(self.path, 0)
            self.flaky_calls[self.path] = count + 1
            if count == 0:
                self.send_error(503, "try again")
                return
            body = b"recovered"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        target = Path(self.directory) / self.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 (free port) serving a temp dir: (base URL, dir)."""
    root = tmp_path / "served"
    root.mkdir()

    def handler(*args: Any, **kwargs: Any) -> _Handler:
        return _Handler(*args, directory=str(root), **kwargs)

    _Handler.flaky_calls = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
