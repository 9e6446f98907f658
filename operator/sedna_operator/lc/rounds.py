"""Files the LC writes for incremental / lifelong learning rounds, in Sedna's layout.

* ``<outputDir>/data/train/<round>/data.txt`` and ``<outputDir>/data/eval/<round>/data.txt``:
  the sample lines of a round (plus ``dataIndex.txt`` next to them for remote datasets:
  first line the dataset's URL prefix, then every whitespace-separated token of the samples
  that has a file extension).
* The IL hot-update ``model_config.json``: ``{"model_config": {"model_path", "model_update_time"}}``.
* The LL deploy copy of the knowledge-base index: ``<outputDir>/deploy/index.pkl``.

Every file is written to a temporary file in the same directory and renamed over the target,
so a worker never reads half a file. Writing the same round twice with the same lines is a
no-op; writing it with different lines raises :class:`RoundConflictError` (a worker may
already be training on it) unless ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "RoundConflictError",
    "RoundFiles",
    "split_new_samples",
    "append_eval_version",
    "url_prefix",
    "index_lines",
    "ensure_job_dirs",
    "write_round_file",
    "write_round",
    "write_hot_update_config",
    "deploy_hot_update_model",
    "deploy_ll_index",
    "atomic_write_bytes",
    "atomic_copy",
    "MAX_EVAL_VERSIONS",
    "HOT_UPDATE_MOUNT",
]

MAX_EVAL_VERSIONS = 5
HOT_UPDATE_MOUNT = "/model-hot-update"
_REMOTE = ("s3://", "http://", "https://", "obs://")


class RoundConflictError(RuntimeError):
    """The round's file exists with other content."""


class RoundFiles(BaseModel):
    """Paths written for one round (None where nothing was written)."""

    model_config = ConfigDict(extra="forbid")

    round: int
    train_data: str | None = None
    train_index: str | None = None
    eval_data: str | None = None
    eval_index: str | None = None
    written: list[str] = Field(default_factory=list, description="Files that were (re)written by this call.")


def split_new_samples(new_lines: Sequence[str], train_prob: float) -> tuple[list[str], list[str]]:
    """Sedna's split: the first ``int(train_prob * len(new))`` new samples train, the rest evaluate."""
    if not 0.0 <= train_prob <= 1.0:
        raise ValueError(f"trainProb must be within [0, 1], got {train_prob}")
    cut = int(train_prob * len(new_lines))
    return list(new_lines[:cut]), list(new_lines[cut:])


def append_eval_version(
    versions: Sequence[Sequence[str]], new_eval: Sequence[str], keep: int = MAX_EVAL_VERSIONS
) -> list[list[str]]:
    """Add one eval version (the eval part of one batch of new samples), keeping the newest ``keep``.

    The eval data of a round is every kept version concatenated, oldest first.
    """
    out = [list(v) for v in versions]
    if new_eval:
        out.append(list(new_eval))
    return out[-keep:] if keep > 0 else out


def url_prefix(dataset_url: str) -> str:
    """The dataset URL without its file name, with the trailing slash (``s3://b/dir/idx.txt`` -> ``s3://b/dir/``)."""
    head = dataset_url.rsplit("/", 1)[0] if "/" in dataset_url else ""
    return head + "/" if head else ""


def index_lines(samples: Sequence[str], prefix: str) -> list[str]:
    """``dataIndex.txt`` lines: the URL prefix, then each token of the samples that has a file extension."""
    files = [tok for line in samples for tok in line.split() if posixpath.splitext(tok)[1]]
    return [prefix, *files]


def atomic_write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with_suppress_unlink(tmp)
        raise


def with_suppress_unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def atomic_copy(src: str | Path, dst: str | Path) -> None:
    """Copy ``src`` over ``dst`` atomically (temporary file beside ``dst`` + rename)."""
    target = Path(dst)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with_suppress_unlink(tmp)
        raise


def ensure_job_dirs(output_dir: str | Path) -> dict[str, Path]:
    """Create ``data/train``, ``data/eval``, ``train``, ``eval`` under a local outputDir."""
    root = Path(output_dir)
    dirs = {
        "samples_train": root / "data" / "train",
        "samples_eval": root / "data" / "eval",
        "train": root / "train",
        "eval": root / "eval",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _lines_bytes(lines: Sequence[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def _write_once(path: Path, data: bytes, overwrite: bool, written: list[str]) -> None:
    if path.exists():
        if path.read_bytes() == data:
            return
        if not overwrite:
            raise RoundConflictError(f"{path} already exists with other content; rounds are written once")
    atomic_write_bytes(path, data)
    written.append(str(path))


def write_round_file(
    output_dir: str | Path,
    phase: str,
    round_no: int,
    samples: Sequence[str],
    *,
    dataset_url: str | None = None,
    overwrite: bool = False,
    written: list[str] | None = None,
) -> tuple[str, str | None]:
    """Write ``<out>/data/<phase>/<round>/data.txt`` (+ ``dataIndex.txt`` for a remote dataset).

    Returns (data file, index file or None).
    """
    if phase not in ("train", "eval"):
        raise ValueError(f"phase must be train or eval, got {phase!r}")
    if round_no < 1:
        raise ValueError(f"rounds start at 1, got {round_no}")
    out = written if written is not None else []
    directory = Path(output_dir) / "data" / phase / str(round_no)
    data_file = directory / "data.txt"
    _write_once(data_file, _lines_bytes(samples), overwrite, out)
    index_file: str | None = None
    if dataset_url is not None and dataset_url.startswith(_REMOTE):
        path = directory / "dataIndex.txt"
        _write_once(path, _lines_bytes(index_lines(samples, url_prefix(dataset_url))), overwrite, out)
        index_file = str(path)
    return str(data_file), index_file


def write_round(
    output_dir: str | Path,
    round_no: int,
    *,
    train: Sequence[str] | None = None,
    eval: Sequence[str] | None = None,
    dataset_url: str | None = None,
    overwrite: bool = False,
) -> RoundFiles:
    """Write the train and/or eval files of one round (None: that phase is not written now)."""
    files = RoundFiles(round=round_no)
    if train is not None:
        files.train_data, files.train_index = write_round_file(
            output_dir,
            "train",
            round_no,
            train,
            dataset_url=dataset_url,
            overwrite=overwrite,
            written=files.written,
        )
    if eval is not None:
        files.eval_data, files.eval_index = write_round_file(
            output_dir,
            "eval",
            round_no,
            eval,
            dataset_url=dataset_url,
            overwrite=overwrite,
            written=files.written,
        )
    return files


def write_hot_update_config(
    config_path: str | Path, model_path: str, now: datetime | None = None
) -> dict[str, object]:
    """Overwrite the IL hot-update ``model_config.json``; the worker reloads when the time changes."""
    when = (now or datetime.now(UTC)).isoformat()
    content: dict[str, object] = {"model_config": {"model_path": model_path, "model_update_time": when}}
    atomic_write_bytes(config_path, json.dumps(content, indent=2).encode())
    return content


def deploy_hot_update_model(
    trained_model: str | Path, hot_update_dir: str | Path, now: datetime | None = None
) -> str:
    """Copy the trained model into the host hot-update dir and point ``model_config.json`` at it.

    Returns the model path as the worker sees it (``/model-hot-update/<file>``).
    """
    name = Path(trained_model).name
    atomic_copy(trained_model, Path(hot_update_dir) / name)
    container_path = f"{HOT_UPDATE_MOUNT}/{name}"
    write_hot_update_config(Path(hot_update_dir) / "model_config.json", container_path, now)
    return container_path


def deploy_ll_index(kb_index: str | Path, output_dir: str | Path) -> str:
    """LL deploy: copy the evaluated knowledge-base index to ``<out>/deploy/index.pkl``."""
    target = Path(output_dir) / "deploy" / "index.pkl"
    atomic_copy(kb_index, target)
    return str(target)
