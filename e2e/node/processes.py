"""The cluster's daemons as plain processes: started detached with a log and a pid file,
found again by a later ``up`` (so bringing the cluster up twice starts nothing twice), and
stopped in reverse order by ``down``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["Daemons", "wait_for"]


def wait_for(check: Callable[[], bool], what: str, timeout: float, log: Path | None = None, interval: float = 0.5) -> None:
    """Poll ``check`` until true; on timeout raise with the end of ``log``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(interval)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last}){tail}")


class Daemons:
    """Pid files under ``pids/``, logs under ``logs/``, one per component name."""

    def __init__(self, pids: Path, logs: Path) -> None:
        self.pids = pids
        self.logs = logs

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """The pid of ``name`` if it runs (the pid file names a live process of that command)."""
        path = self.pids / f"{name}.pid"
        try:
            pid_text, _, exe = path.read_text().partition("\n")
            pid = int(pid_text)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if cmdline and exe and os.fsencode(exe) in cmdline[: len(cmdline)] else None

    def running(self, name: str) -> bool:
        return self.pid(name) is not None

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
        exe: str | None = None,
    ) -> int:
        """Start ``argv`` (under ``prefix``, e.g. nsenter) unless it already runs; returns its pid.
        ``exe``: the program the process ends up running when ``argv[0]`` execs another one."""
        existing = self.pid(name)
        if existing is not None:
            return existing
        self.pids.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.log(name).open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                [*(prefix or []), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # outlives the caller (a pytest run, a shell)
            )
        # The executable is recorded to tell a reused pid from ours.
        (self.pids / f"{name}.pid").write_text(f"{proc.pid}\n{exe or argv[0]}")
        time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at once with {proc.returncode}:\n{self.log(name).read_text()[-3000:]}")
        return proc.pid

    def stop(self, name: str, timeout: float = 20.0) -> None:
        pid = self.pid(name)
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                if _zombie(pid):
                    break
                time.sleep(0.2)
            else:
                if Path(f"/proc/{pid}").exists():
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        (self.pids / f"{name}.pid").unlink(missing_ok=True)

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.pids.glob("*.pid")) if self.pids.exists() else []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
