"""Running a compatibility scenario (Sedna-style worker scripts + a manifest) with `sedna run`.

A scenario is a directory under ``tests/compat/scripts/<version>/<paradigm>/`` holding the
worker scripts exactly as a user of that Sedna release writes them, and one manifest. The
data they read comes from the examples (``examples/<paradigm>/data``), copied beside them,
so the scripts stay small and the data is the one the examples already ship.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sedna_operator.runtime.local.store import Store, WorkerRow
from tests.runtime.examples_support import REPO, run_example, worker_logs

SCRIPTS = Path(__file__).parent / "scripts"

#: every Sedna release the reference describes; 0.7's lib differs from 0.6 only in the
#: backend selection, so its scripts are their own copies all the same (users of each release
#: keep their own).
VERSIONS = ("0.3", "0.4", "0.5", "0.6", "0.7", "head")

_IGNORE = shutil.ignore_patterns("*.pkl", "output", "__pycache__", "*.yaml", "*.py")


def scenario(version: str, paradigm: str, tmp_path: Path, data_from: str | None = None) -> Path:
    """A private copy of the scenario's scripts plus the data of ``examples/<data_from>``."""
    source = SCRIPTS / version.replace(".", "_") / paradigm
    assert source.is_dir(), f"no compat scripts for Sedna {version} {paradigm} at {source}"
    target = tmp_path / f"{paradigm}-{version}"
    if data_from:
        shutil.copytree(REPO / "examples" / data_from, target, ignore=_IGNORE)
    shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run_scenario(target: Path, state: Path, timeout: float = 180) -> str:
    """`sedna run` it to the end; fails with the worker logs when it does not finish cleanly."""
    done, _ = run_example(target, state, timeout)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out + worker_logs(state)
    assert "sedna run: finished" in done.stdout, out + worker_logs(state)
    return out


def resource(state: Path, kind: str, name: str) -> dict[str, Any]:
    row = Store(state).get(kind, "default", name)
    assert row is not None, f"{kind}/{name} not in the state"
    return row.obj


def workers(state: Path) -> list[WorkerRow]:
    return list(Store(state).workers())


def stages(status: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["type"], c.get("stage", "")) for c in status.get("conditions") or []]


def probabilities(model: Path, x: np.ndarray) -> np.ndarray:
    """The class probabilities of the examples' JSON model (softmax output, tanh hidden layers)."""
    out = np.asarray(x, dtype=float)
    layers = json.loads(model.read_text())["layers"]
    for i, (w, b) in enumerate(layers):
        out = out @ np.asarray(w) + np.asarray(b)
        if i < len(layers) - 1:
            out = np.tanh(out)
    out = out - out.max(axis=1, keepdims=True)
    e = np.exp(out)
    return e / e.sum(axis=1, keepdims=True)


def confidence(p: np.ndarray) -> np.ndarray:
    """CrossEntropy's ``1 + Σ p ln p / ln n`` per row."""
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    return 1 + (p * logs).sum(axis=1) / np.log(p.shape[1])
