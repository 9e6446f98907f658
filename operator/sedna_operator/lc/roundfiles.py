"""The files holding a round's samples, by dataset format: one pure function both runtimes use.

Sedna's LC writes, per round, ``<outputDir>/data/<train|eval>/<round>/<file>``:

* lifelong learning: ``data.txt`` (one sample line per line) for a ``txt`` dataset, and
  ``data.csv`` for a ``csv`` dataset, which **starts with the dataset's header line** (workers
  read it with ``CSVDataParse``/pandas, whose column names come from that line);
* incremental learning: ``data.txt`` only; a ``csv`` dataset gets no file and its round fails.

Here incremental and lifelong learning alike get the file of their dataset's format, so an IL
job on a ``csv`` dataset works too (a documented extension). The reconcilers name the file the
worker mounts (``roundData.train`` / ``.eval``, the format's own name, as Sedna's); a round
recorded by an earlier version names ``data.txt`` for a ``csv`` dataset, and that file then
gets the same content, so whatever path the worker is given, it reads a correct file.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence

__all__ = [
    "ROUND_FILE_NAMES",
    "round_file_name",
    "round_file_content",
    "round_file_paths",
    "round_files",
    "index_files",
]

ROUND_FILE_NAMES = {"txt": "data.txt", "csv": "data.csv"}


def _format(fmt: str) -> str:
    name = (fmt or "txt").strip().lower()
    if name not in ROUND_FILE_NAMES:
        raise ValueError(
            f"unsupported dataset format {fmt!r}: round files are written for txt and csv datasets"
        )
    return name


def round_file_name(fmt: str) -> str:
    """``data.txt`` for a ``txt`` dataset, ``data.csv`` for a ``csv`` one (case-insensitive)."""
    return ROUND_FILE_NAMES[_format(fmt)]


def round_file_content(samples: Sequence[str], fmt: str, header: str | None = None) -> bytes:
    """One sample line per line; a ``csv`` file starts with the dataset's ``header`` line."""
    if _format(fmt) == "csv":
        if not header:
            raise ValueError("a csv round file needs the dataset's header line")
        samples = [header, *samples]
    return "".join(f"{line}\n" for line in samples).encode()


def round_file_paths(target: str, fmt: str) -> list[str]:
    """The paths written for one round file the reconciler named ``target``: the format's own
    file in the target's directory, then ``target`` itself when its name differs."""
    own = posixpath.join(posixpath.dirname(target), round_file_name(fmt))
    return [own] if own == target else [own, target]


def index_files(samples_by_target: Mapping[str, Sequence[str]], dataset_url: str) -> dict[str, bytes]:
    """Sedna's ``dataIndex.txt`` beside each round file of a remote (s3) dataset: the dataset's URL
    prefix, then every sample token with a file extension. ``{}`` for a host-path dataset."""
    from .objstore import is_s3_url
    from .rounds import index_lines, url_prefix

    if not is_s3_url(dataset_url):
        return {}
    out: dict[str, bytes] = {}
    for target, samples in samples_by_target.items():
        if target:
            lines = index_lines(samples, url_prefix(dataset_url))
            out[posixpath.join(posixpath.dirname(target), "dataIndex.txt")] = "".join(f"{x}\n" for x in lines).encode()
    return out


def round_files(
    samples_by_target: Mapping[str, Sequence[str]], fmt: str, header: str | None = None
) -> dict[str, bytes]:
    """``{path: content}`` of every file to write for the named targets and their samples."""
    out: dict[str, bytes] = {}
    for target, samples in samples_by_target.items():
        if not target:
            continue
        content = round_file_content(samples, fmt, header)
        for path in round_file_paths(target, fmt):
            out[path] = content
    return out
