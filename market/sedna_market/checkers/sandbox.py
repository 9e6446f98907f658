"""Run a packaged model in an isolated child process (see ``sandbox_worker`` for how).

What the model gets: a copy of its package in a fresh temp dir (the only place it may write), an
environment built from an allow-list (no tokens, keys or other secrets of the service), resource
limits, and, where the platform allows, no network, a read-only file system, an unprivileged uid
and its own PID namespace.  Every process it starts is dead when ``probe_model`` returns.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

log = logging.getLogger(__name__)

# all the child sees of the service's environment; everything else (tokens, cloud keys,
# SEDNA_* settings) stays behind
ENV_ALLOW = ("PATH", "LANG", "LANGUAGE", "TZ")
ENV_ALLOW_PREFIX = ("LC_",)
MARKET_ROOT = Path(__file__).resolve().parents[2]  # the directory holding ``sedna_market``
_reported: set[tuple[str, ...]] = set()


@dataclass
class SandboxLimits:
    """Limits for one probe run."""

    timeout_s: float = 30.0
    memory_mb: int = 2048
    cpu_s: int = 60
    file_mb: int = 256
    open_files: int = 256
    processes: int = 256
    user: str = "nobody"  # who the model runs as when the market runs as root
    namespaces: bool = True  # False: only what works without them (rlimits, subreaper, uid)


@dataclass(frozen=True)
class ImageProbe:
    """Probe inputs made in the child once the model has declared its ``input_shape``: ``rows``
    random images of that shape with integer pixel values in ``[0, 255]`` (float32), as learnware's
    checker probes image models.  An image model must declare ``input_shape`` (``(C, H, W)`` or
    ``(H, W)``) of at most ``max_values`` values."""

    rows: int = 10
    seed: int = 0
    max_values: int = 4 * 1024 * 1024


@dataclass
class ProbeResult:
    """What the child reported; ``error`` is None when ``predict`` returned numeric data."""

    error: str | None
    outputs: np.ndarray | None = None
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    missing_module: str | None = None


def probe_model(
    package_dir: Path,
    class_name: str,
    module_path: str,
    kwargs: dict[str, Any],
    inputs: np.ndarray | ImageProbe,
    limits: SandboxLimits,
) -> ProbeResult:
    """Instantiate the model in an isolated child process and predict on ``inputs`` (an array:
    numbers, or unicode strings that the model gets as a list of ``str``; or an
    :class:`ImageProbe`, made in the child from the model's declared ``input_shape``).

    Whatever the model does (crash, hang, print garbage, exhaust memory, fork and detach) only
    ends that process tree; the result is read back without following links it may have planted.
    """
    with tempfile.TemporaryDirectory(prefix="market-probe-") as tmp, tempfile.TemporaryFile() as err:
        tdir = Path(tmp)
        # a copy, so the model never needs (nor gets) access to the store
        shutil.copytree(package_dir, tdir / "package", symlinks=True)
        if not isinstance(inputs, ImageProbe):
            np.save(tdir / "inputs.npy", np.asarray(inputs), allow_pickle=False)
        uid, gid = _sandbox_ids(limits.user)
        if uid is not None:
            # the store's modes need not let anyone else read; the copy must let the model's uid
            for dirpath, _dirs, filenames in os.walk(tdir / "package"):
                os.chmod(dirpath, 0o555)
                for name in filenames:
                    if not os.path.islink(os.path.join(dirpath, name)):
                        os.chmod(os.path.join(dirpath, name), 0o444)
        info_r, info_w = os.pipe()
        request = {
            "package_dir": str(tdir / "package"),
            "class_name": class_name,
            "module_path": module_path,
            "kwargs": kwargs,
            "image_probe": asdict(inputs) if isinstance(inputs, ImageProbe) else None,
            "memory_mb": limits.memory_mb,
            "cpu_s": limits.cpu_s,
            "file_mb": limits.file_mb,
            "open_files": limits.open_files,
            "processes": limits.processes,
            "sandbox": {"tmp": tmp, "uid": uid, "gid": gid, "timeout_s": limits.timeout_s, "info_fd": info_w,
                        "namespaces": limits.namespaces},
        }
        (tdir / "request.json").write_text(json.dumps(request))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sedna_market.checkers.sandbox_worker", "--launch", str(tdir / "request.json")],
                cwd=tdir,
                env=_child_env(tmp),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                pass_fds=(info_w,),
            )
        finally:
            os.close(info_w)
        with os.fdopen(info_r, "rb") as info_pipe:
            try:
                # the launcher enforces the timeout and kills the tree; this is the backstop
                proc.wait(timeout=limits.timeout_s + 10)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                return ProbeResult(error=f"model did not finish within {limits.timeout_s:g} s (killed)")
            info = _read_info(info_pipe)
        if info.get("timed_out"):
            return ProbeResult(error=f"model did not finish within {limits.timeout_s:g} s (killed)")
        raw = _read_own_file(tdir / "result.json", 1 << 20)
        if raw is None:
            return ProbeResult(error=f"model process died with exit code {proc.returncode}: {_tail(err)}".strip())
        try:
            res = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return ProbeResult(error="model process wrote an unreadable result")
        if not isinstance(res, dict):
            return ProbeResult(error="model process wrote an unreadable result")
        if not res.get("ok"):
            return ProbeResult(error=str(res.get("error", "unknown error")), missing_module=res.get("missing_module"))
        try:
            raw_out = _read_own_file(tdir / "outputs.npy", limits.file_mb * 1024 * 1024)
            if raw_out is None:
                raise ValueError("missing or not a regular file")
            outputs = np.load(io.BytesIO(raw_out), allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            return ProbeResult(error=f"model outputs unreadable: {exc}")
        ish = res.get("input_shape")
        osh = res.get("output_shape")
        return ProbeResult(
            error=None,
            outputs=outputs,
            input_shape=tuple(ish) if ish is not None else None,
            output_shape=tuple(osh) if osh is not None else None,
        )


def _sandbox_ids(user: str) -> tuple[int | None, int | None]:
    """The uid/gid to drop to: only a root market can, and only to an existing user."""
    if os.geteuid() != 0:
        return None, None
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return None, None
    return pw.pw_uid, pw.pw_gid


def _child_env(tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ENV_ALLOW or k.startswith(ENV_ALLOW_PREFIX)}
    env.setdefault("PATH", os.defpath)
    paths = [str(MARKET_ROOT), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        PYTHONDONTWRITEBYTECODE="1",
        HOME=tmp,
        TMPDIR=tmp,
        # one BLAS thread: keeps the checker light and its virtual memory under the limit
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


def _read_info(pipe: IO[bytes]) -> dict[str, Any]:
    """Merge the launcher's JSON lines (protections in force, timeout); logs protections once."""
    os.set_blocking(pipe.fileno(), False)
    info: dict[str, Any] = {}
    try:
        data = pipe.read(65536) or b""
    except BlockingIOError:
        data = b""
    for line in data.splitlines():
        try:
            info.update(json.loads(line))
        except (json.JSONDecodeError, TypeError, ValueError):
            continue
    prot = tuple(info.get("protections", ()))
    if prot and prot not in _reported:
        _reported.add(prot)
        log.info("checker sandbox protections in force: %s", ", ".join(prot))
    return info


def _read_own_file(path: Path, limit: int) -> bytes | None:
    """A regular file the child wrote, without following a link or blocking on a FIFO it planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit) if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _tail(err: IO[bytes]) -> str:
    err.seek(0, os.SEEK_END)
    err.seek(max(0, err.tell() - 500))
    return err.read().decode(errors="replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()
