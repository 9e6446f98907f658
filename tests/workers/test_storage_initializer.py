"""The storage initializer fetches pairs, unpacks archives and follows indirect indexes."""

from __future__ import annotations

import http.server
import os
import socket
import stat
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sedna.storage_initializer import main, read_index


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *args: object) -> None:
            pass

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", root
    finally:
        server.shutdown()
        server.server_close()


def test_downloads_file_and_unpacks_archive(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "model.pkl").write_bytes(b"weights")
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "a.txt").write_text("hello")
    with tarfile.open(root / "bundle.tar.gz", "w:gz") as tf:
        tf.add(inner / "a.txt", arcname="a.txt")
    out = tmp_path / "downloads"
    rc = main([f"{url}/model.pkl", str(out / "127.0.0.1/model.pkl"), f"{url}/bundle.tar.gz", str(out / "b") + "/"])
    assert rc == 0
    assert (out / "127.0.0.1/model.pkl").read_bytes() == b"weights"
    assert (out / "b" / "bundle" / "a.txt").read_text() == "hello"


def test_indirect_index(http_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_root
    (root / "imgs").mkdir()
    (root / "imgs" / "1.jpg").write_bytes(b"one")
    (root / "imgs" / "2.jpg").write_bytes(b"two")
    index = tmp_path / "dataIndex.txt"
    index.write_text(f"# written by the LC\n{url}/\nimgs/1.jpg 0\nimgs/2.jpg 1\n")
    assert read_index(str(index)) == (url, ["imgs/1.jpg", "imgs/2.jpg"])
    out = tmp_path / "data"
    assert main([str(index), "@" + str(out)]) == 0
    assert (out / "imgs" / "2.jpg").read_bytes() == b"two"


def test_failure_names_the_url_and_exits_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sedna.storage_initializer", str(tmp_path / "missing.bin"), str(tmp_path / "x")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "missing.bin" in proc.stderr and "no such file" in proc.stderr
    assert main(["only-one-arg"]) == 2


def test_writable_output_dirs(tmp_path: Path) -> None:
    out = tmp_path / "output" / "train" / "1"
    assert main(["--writable", str(out), "--writable", str(tmp_path / "eval")]) == 0
    assert out.is_dir() and (tmp_path / "eval").is_dir()
    # Root opens the directory to the worker's (non-root) user; anyone else owns it already.
    expected = 0o1777 if os.geteuid() == 0 else 0o777 & ~_umask()
    assert stat.S_IMODE(out.stat().st_mode) == expected
    assert main(["--writable"]) == 2


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
