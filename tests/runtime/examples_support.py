"""Running the examples with `sedna run` from the tests: one copy, one state dir per test."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).parent / "sedna"
SEDNA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "sedna_operator"]


def copy_example(name: str, tmp_path: Path) -> Path:
    """A private copy of ``examples/<name>`` without outputs, so runs never touch the repo."""
    target = tmp_path / name
    shutil.copytree(REPO / "examples" / name, target, ignore=shutil.ignore_patterns("*.pkl", "output", "__pycache__"))
    return target


def run_example(example: Path, state: Path, timeout: float = 150) -> tuple[subprocess.CompletedProcess[str], float]:
    """`sedna run` the example quietly; returns the finished process and its wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [*SEDNA, "run", "-f", str(example), "--state-dir", str(state), "-q", "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )
    return done, time.monotonic() - started


def worker_logs(state: Path) -> str:
    """The tail of every worker log, for assertion messages."""
    return "".join(f"\n--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((state / "logs").glob("*.log")))
