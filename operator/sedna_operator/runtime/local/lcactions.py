"""The LC's file work for incremental / lifelong learning, done by the local runtime.

The IL/LL reconcilers name the round data they need in ``status.controllerState.roundData``
(``{round, dataset, from, to, trainProb, train, eval}``); before each reconcile the runtime
writes those files through :mod:`sedna_operator.lc.rounds` (train: the first ``trainProb`` share
of dataset lines ``from..to``; eval: the eval shares of the newest five rounds, as Sedna keeps
five eval versions) and tells the reconciler which exist in ``Observation.lc_files``.
Writes are idempotent: a resumed run rewrites nothing and repeats no round.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...lc import rounds
from ...lc.datasets import read_samples, url_to_host_path
from .store import ResourceRow

if TYPE_CHECKING:
    from .loop import LocalRuntime

__all__ = ["prepare_lc_files"]

log = logging.getLogger("sedna.local")


def _dataset_lines(runtime: LocalRuntime, namespace: str, name: str) -> list[str] | None:
    row = runtime.store.get("Dataset", namespace, name)
    if row is None:
        return None
    spec = row.obj.get("spec") or {}
    path = url_to_host_path(str(spec.get("url", "")))
    if path is None or not Path(path).is_file():
        return None
    return read_samples(path, str(spec.get("format", "txt")))


def _write_round(runtime: LocalRuntime, row: ResourceRow, data: dict[str, Any]) -> None:
    lines = _dataset_lines(runtime, row.namespace, str(data.get("dataset", "")))
    if lines is None:
        return
    start, stop = int(data.get("from", 0)), int(data.get("to", 0))
    prob = float(data.get("trainProb", 1.0))
    round_no = int(data.get("round", 0))
    key = f"evalversions:{row.kind}/{row.namespace}/{row.name}"
    versions: dict[str, list[Any]] = json.loads(runtime.store.get_meta(key) or "{}")
    versions[str(round_no)] = [start, stop, prob]
    runtime.store.set_meta(key, json.dumps(versions))
    train, _ = rounds.split_new_samples(lines[start:stop], prob)
    kept: list[list[str]] = []
    for r in sorted(versions, key=int):
        if int(r) <= round_no:
            a, b, p = versions[r]
            kept = rounds.append_eval_version(kept, rounds.split_new_samples(lines[a:b], p)[1])
    eval_lines = [line for version in kept for line in version]
    for target, samples in ((data.get("train"), train), (data.get("eval"), eval_lines)):
        if target and not Path(str(target)).exists():
            rounds.atomic_write_bytes(str(target), ("\n".join(samples) + ("\n" if samples else "")).encode())


def prepare_lc_files(runtime: LocalRuntime, row: ResourceRow) -> dict[str, bool]:
    """Write what ``row``'s controllerState asks of the LC; return ``{path: exists}``."""
    status = row.obj.get("status") or {}
    state = status.get("controllerState") or {}
    files: dict[str, bool] = {}
    data = state.get("roundData")
    if isinstance(data, dict):
        try:
            _write_round(runtime, row, data)
        except OSError as exc:
            log.warning("round data of %s/%s not written: %s", row.kind, row.name, exc)
        for key in ("train", "eval"):
            if data.get(key):
                files[str(data[key])] = Path(str(data[key])).exists()
    return files
