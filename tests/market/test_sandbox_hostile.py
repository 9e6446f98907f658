"""Hostile model packages against the checker sandbox.

Each model is written the way an attacker would write it: it tries to read the service's secrets,
write outside its temp dir, leave a detached process behind or reach a local service, and raises
``RuntimeError("ESCAPED: ...")`` when it succeeds.  A contained attack therefore shows up as a
model that ran to completion (``probe.error is None``).
"""

from __future__ import annotations

import io
import logging
import os
import pwd
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sedna_market.checkers import sandbox
from sedna_market.checkers.sandbox import ProbeResult, SandboxLimits, probe_model
from sedna_market.checkers.sandbox_worker import _needed_paths, _reachable
from sedna_market.storage import BlobStore

LIMITS = SandboxLimits(timeout_s=8.0, memory_mb=1024, cpu_s=10)
INPUTS = np.zeros((5, 4))

HEADER = """
import os
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self, **kw):
        super().__init__(input_shape=(4,), output_shape=(3,))
        self.kw = kw
"""

STEAL_ENV = HEADER + """
    def predict(self, X):
        secrets = self.kw["secrets"]
        seen = dict(os.environ)
        # also every environment the process can read through /proc (its ancestors' included)
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    seen[pid] = fh.read().decode(errors="replace")
            except OSError:
                pass
        leaked = [s for s in secrets if any(s in v for v in seen.values())]
        if leaked:
            raise RuntimeError(f"ESCAPED: read {leaked}")
        return np.zeros((len(X), 3))
"""

WRITE_OUTSIDE = HEADER + """
    def predict(self, X):
        done = []
        for d in self.kw["dirs"]:
            try:
                with open(os.path.join(d, "planted-by-model"), "w") as fh:
                    fh.write("x")
                done.append("created in " + d)
            except OSError:
                pass
        for f in self.kw["files"]:
            try:
                with open(f, "a") as fh:
                    fh.write("tampered")
                done.append("modified " + f)
            except OSError:
                pass
            try:
                os.chmod(f, 0o777)
                done.append("chmod " + f)
            except OSError:
                pass
        for d in self.kw.get("private", []):
            # a per-probe tmpfs here: writable, but nothing written reaches the host's
            with open(os.path.join(d, "planted-by-model"), "w") as fh:
                fh.write("x")
        if done:
            raise RuntimeError("ESCAPED: " + "; ".join(done))
        return np.zeros((len(X), 3))
"""

DETACH = HEADER + """
    def predict(self, X):
        import time
        # setsid + double fork: the classic daemon, out of the check's process group and session
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep-" + self.kw["token"], "60"])
            os._exit(0)
        os.wait()
        time.sleep(0.3)  # let the grandchild exec
        if self.kw["hang"]:
            while True:
                time.sleep(1)
        return np.zeros((len(X), 3))
"""

CONNECT = HEADER + """
    def predict(self, X):
        import socket
        try:
            socket.create_connection(("127.0.0.1", self.kw["port"]), timeout=2).close()
        except OSError:
            return np.zeros((len(X), 3))
        raise RuntimeError("ESCAPED: connected to a local service")
"""

GOOD = HEADER + """
    def predict(self, X):
        return np.asarray(X) @ np.ones((4, 3))
"""

MEMORY_HOG = HEADER + """
    def predict(self, X):
        big = np.ones((64, 1024, 1024, 8))  # 4 GiB
        return big[:len(X), 0, 0, :3]
"""

HANG = HEADER + """
    def predict(self, X):
        while True:
            pass
"""

PLANT_LINK = HEADER + """
    def predict(self, X):
        # make the parent read a file of its own choosing as the result, then die before the
        # worker writes the real one
        os.symlink(self.kw["target"], "result.json")
        os._exit(0)
"""


def _isolation_available() -> bool:
    """Whether this kernel/container lets the sandbox create PID, network and mount namespaces and
    remount the root read-only (tried in a throwaway child, with private mounts)."""
    code = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "flags = 0x20000000 | 0x40000000 | 0x00020000\n"
        "ok = os.geteuid() == 0 and libc.unshare(flags) == 0 or libc.unshare(flags | 0x10000000) == 0\n"
        "ok = ok and libc.mount(None, b'/', None, ctypes.c_ulong(16384 | 1 << 18), None) == 0\n"
        "attr = (ctypes.c_uint64 * 4)(1, 0, 0, 0)\n"
        "ok = ok and libc.syscall(442, -100, b'/', 0x8000, ctypes.byref(attr), 32) == 0\n"
        "sys.exit(0 if ok else 1)\n"
    )
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _uid_drop_available() -> bool:
    """Whether a root market can run the model as ``nobody`` (its interpreter must be in reach)."""
    if os.geteuid() != 0:
        return False
    return ISOLATION or all(_reachable(p, pwd.getpwnam("nobody").pw_uid) for p in _needed_paths("/tmp"))


ISOLATION = _isolation_available()
NEEDS_ISOLATION = pytest.mark.skipif(not ISOLATION, reason="no PID/network/mount namespaces here (probed)")
STORE_PROTECTED = ISOLATION or _uid_drop_available()


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _package(tmp: Path, source: str) -> Path:
    """The package as the market stores it: a blob plus its extraction in a BlobStore."""
    store = BlobStore(tmp / "store")
    sha = store.put(_zip({"learnware.yaml": "model:\n  class_name: Model\n", "__init__.py": source}))
    return store.unpacked(sha)


def _probe(tmp: Path, source: str, limits: SandboxLimits = LIMITS, **kwargs: Any) -> ProbeResult:
    return probe_model(_package(tmp, source), "Model", "__init__.py", kwargs, INPUTS, limits)


def _processes_named(token: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if token.encode() in fh.read():
                    found.append(int(pid))
        except (OSError, ValueError):
            pass
    return found


@pytest.fixture
def world_writable_dir() -> Iterator[Path]:
    """A directory any uid may write to, outside every temp dir the sandbox makes."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-outside-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def test_the_services_secrets_do_not_reach_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = [f"tok-{uuid.uuid4().hex}", f"aws-{uuid.uuid4().hex}", f"cfg-{uuid.uuid4().hex}"]
    monkeypatch.setenv("SEDNA_MARKET_TOKEN", secrets[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secrets[1])
    monkeypatch.setenv("SEDNA_MARKET_DB_URL", f"postgresql://u:{secrets[2]}@db/market")
    res = _probe(tmp_path, STEAL_ENV, secrets=secrets)
    assert res.error is None, res.error


@pytest.mark.skipif(not STORE_PROTECTED, reason="neither namespaces nor another uid available here (probed)")
def test_the_model_cannot_write_to_the_store(tmp_path: Path) -> None:
    pkg = _package(tmp_path, WRITE_OUTSIDE)
    store = tmp_path / "store"
    blob = next(p for p in (store / "blobs").rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
    for path in [store, *store.rglob("*")]:
        assert not path.stat().st_mode & 0o002, path
    kwargs = {
        "dirs": [str(store), str(store / "unpacked"), str(pkg), str(blob.parent)],
        "files": [str(pkg / "__init__.py"), str(pkg / "learnware.yaml"), str(blob)],
    }
    res = probe_model(pkg, "Model", "__init__.py", kwargs, INPUTS, LIMITS)
    assert res.error is None, res.error
    assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before


@NEEDS_ISOLATION
def test_the_model_cannot_write_anywhere_but_its_temp_dir(tmp_path: Path, world_writable_dir: Path) -> None:
    # even a world-writable directory is out of bounds: the root file system is read-only for it
    victim = world_writable_dir / "victim"
    victim.write_text("original")
    victim.chmod(0o666)
    kwargs = {"dirs": [str(world_writable_dir), "/tmp", "/var/tmp"], "files": [str(victim)], "private": ["/dev/shm"]}
    shared = [Path(d, "planted-by-model") for d in ("/tmp", "/dev/shm", "/var/tmp")]
    try:
        res = _probe(tmp_path, WRITE_OUTSIDE, **kwargs)
        planted = [p for p in shared if p.exists()]
    finally:
        for p in shared:  # what an escaped model left in shared places
            p.unlink(missing_ok=True)
    assert res.error is None, res.error
    assert planted == []
    assert sorted(p.name for p in world_writable_dir.iterdir()) == ["victim"]
    assert victim.read_text() == "original"


@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "subreaper"])
@pytest.mark.parametrize("hang", [False, True], ids=["returns", "times-out"])
def test_a_detached_grandchild_is_dead_when_the_probe_returns(tmp_path: Path, hang: bool, namespaces: bool) -> None:
    token = uuid.uuid4().hex[:12]
    limits = SandboxLimits(timeout_s=3.0 if hang else LIMITS.timeout_s, memory_mb=1024, cpu_s=10)
    limits.namespaces = namespaces  # False: the fallback (subreaper + sweep) on its own
    try:
        res = _probe(tmp_path, DETACH, limits, token=token, hang=hang)
        survivors = _processes_named(token)
    finally:
        for pid in _processes_named(token):  # today's sandbox leaves them: do not leak into other tests
            os.kill(pid, 9)
    if hang:
        assert res.error is not None and "did not finish within 3 s" in res.error
    else:
        assert res.error is None, res.error
    assert survivors == []


@NEEDS_ISOLATION
def test_the_model_cannot_connect_to_a_local_service() -> None:
    accepted: list[object] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            res = _probe(Path(tmp), CONNECT, port=server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        server.close()
    assert res.error is None, res.error
    assert accepted == []


def test_a_planted_link_is_not_followed_when_reading_the_result(tmp_path: Path) -> None:
    secret = Path(tempfile.mkdtemp(prefix="sandbox-secret-", dir="/tmp")) / "secret.json"
    try:
        secret.write_text('{"ok": false, "error": "TOPSECRET"}')
        res = _probe(tmp_path, PLANT_LINK, target=str(secret))
    finally:
        secret.unlink()
        secret.parent.rmdir()
    assert res.error is not None and "TOPSECRET" not in res.error


def test_a_good_model_still_works_and_the_protections_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "_reported", set())
    with caplog.at_level(logging.INFO, logger="sedna_market.checkers.sandbox"):
        start = time.monotonic()
        res = _probe(tmp_path, GOOD)
    assert res.error is None, res.error
    assert res.outputs is not None and res.outputs.shape == (5, 3)
    assert res.input_shape == (4,) and res.output_shape == (3,)
    assert time.monotonic() - start < LIMITS.timeout_s
    messages = [r.getMessage() for r in caplog.records if "protections" in r.getMessage()]
    assert len(messages) == 1
    expected = ["pid-ns", "net-ns", "read-only-root"] if ISOLATION else ["subreaper"]
    for name in expected:
        assert name in messages[0], messages[0]
    if os.geteuid() == 0:  # root never hands the model its capabilities
        assert "uid=" in messages[0] or "caps-dropped" in messages[0], messages[0]


def test_limits_still_hold(tmp_path: Path) -> None:
    res = _probe(tmp_path, MEMORY_HOG)
    assert res.error is not None and "MemoryError" in res.error
    limits = SandboxLimits(timeout_s=2.0, memory_mb=1024, cpu_s=10)
    start = time.monotonic()
    res = _probe(tmp_path / "hang", HANG, limits)
    assert res.error is not None and "did not finish within 2 s" in res.error
    assert time.monotonic() - start < 2.0 + 3.0
