"""Run a packaged model in a separate process with wall-time, CPU and memory limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class SandboxLimits:
    """Limits for one probe run."""

    timeout_s: float = 30.0
    memory_mb: int = 2048
    cpu_s: int = 60


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
    inputs: np.ndarray,
    limits: SandboxLimits,
) -> ProbeResult:
    """Instantiate the model in a child process and predict on ``inputs``.

    The child gets its own session so a model that forks is killed with its children on timeout;
    whatever it does (crash, hang, print garbage, exhaust memory) only ends that process.
    """
    with tempfile.TemporaryDirectory(prefix="market-probe-") as tmp:
        tdir = Path(tmp)
        np.save(tdir / "inputs.npy", np.asarray(inputs), allow_pickle=False)
        request = {
            "package_dir": str(package_dir),
            "class_name": class_name,
            "module_path": module_path,
            "kwargs": kwargs,
            "memory_mb": limits.memory_mb,
            "cpu_s": limits.cpu_s,
        }
        (tdir / "request.json").write_text(json.dumps(request))
        env = dict(os.environ)
        # one BLAS thread: keeps the checker light and its virtual memory under the limit
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sedna_market.checkers.sandbox_worker", str(tdir / "request.json")],
            cwd=tdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return ProbeResult(error=f"model did not finish within {limits.timeout_s:g} s (killed)")
        result_file = tdir / "result.json"
        if not result_file.exists():
            tail = err.decode(errors="replace")[-500:] if err else ""
            return ProbeResult(error=f"model process died with exit code {proc.returncode}: {tail}".strip())
        try:
            res = json.loads(result_file.read_text())
        except json.JSONDecodeError:
            return ProbeResult(error="model process wrote an unreadable result")
        if not res.get("ok"):
            return ProbeResult(error=res.get("error", "unknown error"), missing_module=res.get("missing_module"))
        try:
            outputs = np.load(tdir / "outputs.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            return ProbeResult(error=f"model outputs unreadable: {exc}")
        ish = res.get("input_shape")
        osh = res.get("output_shape")
        return ProbeResult(
            error=None,
            outputs=outputs,
            input_shape=tuple(ish) if ish is not None else None,
            output_shape=tuple(osh) if osh is not None else None,
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()
