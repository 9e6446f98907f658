"""Local processes for workers: start (init containers first), watch, restart, adopt and stop.

The kubelet's rules, locally:

- Init processes run in order, each to exit 0, before the main process; a failing one fails the
  pod (``Init:Error``).
- ``restartPolicy`` (default ``Always``): ``Always`` restarts any exit, ``OnFailure`` a non-zero
  exit, ``Never`` none. Restarts back off (0.5 s doubling, at most 10 s) and count in
  ``restarts``; meanwhile the phase stays ``Running``. Otherwise the phase becomes ``Succeeded``
  (exit 0) or ``Failed``.
- Each main process runs under :mod:`.launcher` in its own session with output appended to
  ``<state>/logs/<worker>.log``. ``pid`` and the process start time are stored, so a later
  ``sedna run`` re-adopts a live worker, or reads its exit code from the launcher's exit file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from .podenv import LocalRuntimeError, PodProcesses
from .store import Store, WorkerRow, now_iso

__all__ = ["Runner", "restart_delay", "should_restart"]

LOGGER = logging.getLogger(__name__)
LAUNCHER = str(Path(__file__).with_name("launcher.py"))
INIT_TIMEOUT = 600.0


def should_restart(policy: str | None, exit_code: int | None) -> bool:
    """Whether the kubelet would restart a container that exited with ``exit_code``."""
    policy = policy or "Always"
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def restart_delay(restarts: int) -> float:
    """Back-off before restart number ``restarts + 1``: 0.5 s doubling, capped at 10 s."""
    return float(min(10.0, 0.5 * (2 ** min(restarts, 8))))


class Runner:
    """Owns the worker processes of one state directory."""

    def __init__(
        self, store: Store, build: Callable[[WorkerRow], PodProcesses], clock: Callable[[], float] = time.time
    ):
        self.store = store
        self.build = build
        self.clock = clock
        #: called with a worker whose process has ended, before its end is recorded (the
        #: runtime delivers the reports it buffered, see ``spool``)
        self.on_exit: Callable[[WorkerRow], None] | None = None
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self._recovered = False  # recover_interrupted_starts runs once, on the first sync
        # worker logs and pod files may hold what workers print and Secret volumes: owner only
        store.logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        store.pods_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _exit_file(self, name: str) -> Path:
        return self.store.pods_dir / name / "exit-code"

    def log_path(self, name: str) -> Path:
        return self.store.logs_dir / f"{name}.log"

    # ---- starting ------------------------------------------------------------------------

    def start(self, row: WorkerRow) -> None:
        """Start (or restart) ``row``'s processes and record the result in the store."""
        log_path = self.log_path(row.name)
        try:
            procs = self.build(row)
        except LocalRuntimeError as exc:
            self._fail(row.name, None, f"cannot run locally: {exc}")
            return
        for directory in procs.directories:
            directory.mkdir(parents=True, exist_ok=True)
        for path, data in procs.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        exit_file = self._exit_file(row.name)
        exit_file.parent.mkdir(parents=True, exist_ok=True)
        exit_file.unlink(missing_ok=True)
        with open(log_path, "ab") as log:
            for warning in procs.warnings:
                log.write(f"[sedna run] warning: {warning}\n".encode())
            for init in procs.init:
                line = procs.redact(" ".join(init.argv))
                log.write(f"[sedna run] {now_iso()} init {init.container}: {line}\n".encode())
                log.flush()
                try:
                    done = subprocess.run(
                        init.argv,
                        cwd=init.cwd,
                        env=init.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        timeout=INIT_TIMEOUT,
                        check=False,
                    )
                    code = done.returncode
                except (OSError, subprocess.TimeoutExpired) as exc:
                    log.write(f"[sedna run] init {init.container} failed: {exc}\n".encode())
                    code = 1
                if code != 0:
                    self._fail(row.name, code, f"init container {init.container} exited with {code}")
                    return
            main = procs.main
            line = procs.redact(" ".join(main.argv))
            log.write(f"[sedna run] {now_iso()} start {main.container} in {main.cwd}: {line}\n".encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    [sys.executable, LAUNCHER, str(exit_file), "--", *main.argv],
                    cwd=main.cwd,
                    env=main.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                self._fail(row.name, None, f"cannot start: {exc}")
                return
        self.children[row.name] = child
        started = _create_time(child.pid)
        self.store.update_worker(
            row.name,
            pid=child.pid,
            pid_started=started,
            phase="Running",
            exit_code=None,
            started_at=now_iso(),
            log_path=str(log_path),
            message="",
            next_start=None,
        )

    def _fail(self, name: str, code: int | None, message: str) -> None:
        with open(self.log_path(name), "ab") as log:
            log.write(f"[sedna run] {message}\n".encode())
        self.store.update_worker(
            name, phase="Failed", exit_code=code, message=message, pid=None, finished_at=now_iso()
        )

    # ---- watching ------------------------------------------------------------------------

    def _exit_code(self, row: WorkerRow) -> tuple[bool, int | None]:
        """(exited, exit code) of ``row``'s current process; code None when it was lost."""
        child = self.children.get(row.name)
        if child is not None:
            code = child.poll()
            if code is None:
                return False, None
            del self.children[row.name]
            return True, self._read_exit_file(row.name, code if code >= 0 else 128 - code)
        if row.pid is None:
            return True, None
        if _alive(row.pid, row.pid_started):
            return False, None
        return True, self._read_exit_file(row.name, None)

    def _read_exit_file(self, name: str, default: int | None) -> int | None:
        try:
            return int(self._exit_file(name).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return default

    def recover_interrupted_starts(self) -> list[str]:
        """Adopt the workers a killed ``sedna run`` started but did not record.

        A run killed between starting a worker's launcher and storing its pid leaves the process
        running (in its own session, by design) with no pid in the store; starting the worker
        again would run it twice. The launcher's argv names the worker's exit file, which is
        unique per worker, so a live one is found among the processes and adopted; one that has
        already ended left its exit code in that file (``start`` removes the file before it
        launches, so for a never-recorded worker the file can only be that process's)."""
        rows = [r for r in self.store.workers() if r.pid is None and not r.deleting and r.phase in ("Pending", "Running")]
        if not rows:
            return []
        wanted = {str(self._exit_file(r.name)): r for r in rows}
        adopted: list[str] = []
        for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
            cmd = proc.info.get("cmdline") or []
            row = wanted.pop(cmd[2], None) if len(cmd) >= 3 and cmd[1] == LAUNCHER else None
            if row is None or not _alive(proc.pid, proc.info.get("create_time")):
                continue
            self._note(row.name, f"adopted pid {proc.pid}, started by an interrupted run")
            self.store.update_worker(
                row.name, pid=proc.pid, pid_started=proc.info.get("create_time"), phase="Running", exit_code=None,
                started_at=row.started_at or now_iso(), log_path=str(self.log_path(row.name)), message="",
                next_start=None,
            )  # fmt: skip
            adopted.append(row.name)
        for path, row in wanted.items():
            if row.phase == "Pending" and Path(path).exists():
                self._note(row.name, "started by an interrupted run and already ended")
                self.store.update_worker(row.name, started_at=row.started_at or now_iso(), log_path=str(self.log_path(row.name)))
                self._ended(row, self._read_exit_file(row.name, None), self.clock())
                adopted.append(row.name)
        return adopted

    def _note(self, name: str, text: str) -> None:
        with open(self.log_path(name), "ab") as log:
            log.write(f"[sedna run] {now_iso()} {text}\n".encode())

    def sync(self) -> list[str]:
        """Poll every worker, apply restart policies, start due restarts; returns names that changed."""
        changed = []
        if not self._recovered:
            self._recovered = True
            changed += self.recover_interrupted_starts()
        now = self.clock()
        for row in self.store.workers():
            if row.deleting:
                continue
            if row.phase == "Pending" and row.pid is None and (row.next_start or 0) <= now:
                self.start(row)
                changed.append(row.name)
                continue
            if row.phase != "Running":
                continue
            if row.pid is None:
                if row.next_start is not None and row.next_start <= now:
                    self.store.update_worker(row.name, restarts=row.restarts + 1)
                    row.restarts += 1
                    self.start(row)
                    changed.append(row.name)
                continue
            exited, code = self._exit_code(row)
            if not exited:
                continue
            changed.append(row.name)
            self._ended(row, code, now)
        return changed

    def _ended(self, row: WorkerRow, code: int | None, now: float) -> None:
        """Record that ``row``'s process ended with ``code``: restart it or finish it."""
        if self.on_exit is not None:
            try:
                self.on_exit(row)
            except Exception:  # delivering late reports must never stop the run
                LOGGER.exception("after %s ended", row.name)
        policy = (row.pod_obj.get("spec") or {}).get("restartPolicy")
        self._note(row.name, f"exited with {code if code is not None else 'unknown (lost)'}")
        if should_restart(policy, code):
            self.store.update_worker(
                row.name, pid=None, exit_code=code, next_start=now + restart_delay(row.restarts)
            )
        else:
            phase = "Succeeded" if code == 0 else "Failed"
            self.store.update_worker(
                row.name,
                pid=None,
                exit_code=code,
                phase=phase,
                finished_at=now_iso(),
                message="" if code is not None else "process lost",
            )

    # ---- stopping ------------------------------------------------------------------------

    def stop(self, row: WorkerRow, grace: float = 5.0) -> None:
        """Terminate ``row``'s process group (SIGTERM, then SIGKILL after ``grace`` seconds)."""
        stop_process(row.pid, row.pid_started, grace, self.children.pop(row.name, None))

    def delete(self, name: str, grace: float = 5.0) -> None:
        row = self.store.worker(name)
        if row is None:
            return
        self.store.update_worker(name, deleting=True)
        self.stop(row, grace)
        self.store.remove_worker(name)

    def suspend_all(self, grace: float = 5.0) -> None:
        """Stop every running process and mark it ``Pending`` so the next ``sedna run`` starts it again.

        Every process is asked (SIGTERM) first and all share one ``grace``: stopping them one
        after the other gave each its own, so a run with many workers slow to exit took
        ``grace`` times their number to honour Ctrl-C or ``--timeout``."""
        rows = [row for row in self.store.workers() if row.phase == "Running" and row.pid is not None]
        for row in rows:
            if _alive(row.pid or 0, row.pid_started):
                with contextlib.suppress(OSError):
                    os.killpg(row.pid or 0, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for row in rows:
            self.stop(row, max(0.0, deadline - time.monotonic()))
            self.store.update_worker(row.name, phase="Pending", pid=None, next_start=None)


def _create_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _alive(pid: int, started: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 1.0:
            return False  # the pid was reused by another process
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def stop_process(
    pid: int | None, started: float | None, grace: float, child: subprocess.Popen[bytes] | None = None
) -> None:
    """SIGTERM the process group of ``pid`` (if it is still the same process), SIGKILL after ``grace``."""
    if pid is None or not _alive(pid, started):
        if child is not None:
            child.poll()
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if child is not None and child.poll() is not None:
                return
            if child is None and not _alive(pid, started):
                return
            time.sleep(0.05)
    if child is not None:
        child.poll()
