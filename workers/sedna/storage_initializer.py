"""Init-container entry point that fetches remote models and datasets before workers start.

Usage (what the operator puts in the ``storage-initializer`` init container)::

    python -m sedna.storage_initializer [--writable DIR ...] SRC DST [SRC DST ...]

``--writable DIR`` (repeatable) creates ``DIR`` and, when running as root, sets its mode to
1777 (like /tmp): output host directories are created by the kubelet as root, and the workers
that write them run as a non-root user. Run as another user, it only creates the directory
(the worker then runs as that user too, as in ``sedna run``).

Each ``SRC`` (``http(s)://``, ``s3://``, ``obs://`` or a local path) is downloaded to ``DST``:
a ``DST`` ending in ``/``, or whose last segment is not the source's file name, is a directory
to put the file in (Sedna's pairs: the operator passes ``/downloads/<host><dir>`` for a file
``<dir>/<name>``); a ``DST`` ending in the source's file name is the file's path.
Archives (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``) are also unpacked beside the download,
into ``DST`` without its extension.

A ``DST`` starting with ``@`` (Sedna's ``INDIRECT_URL_MARK``) means ``SRC`` is an index file:
its first line that is not a ``#`` comment is a base URI, and every following line names a
file relative to it; each is downloaded under ``DST`` (without the ``@``), keeping its
relative path. This is how a dataset on s3 reaches a worker through an index written locally.

S3 credentials come from ``S3_ENDPOINT_URL``, ``ACCESS_KEY_ID`` and ``SECRET_ACCESS_KEY``;
http headers from the ``<hostname>-headers`` variables FileOps reads. Exits 1 with the URL and
the reason when anything fails, so the pod shows why it could not start.
"""

from __future__ import annotations

import os
import posixpath
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlparse

from sedna.common.file_ops import FileOps, FileOpsError

INDIRECT_URL_MARK = os.environ.get("INDIRECT_URL_MARK", "@")
ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")


def read_index(path: str) -> tuple[str, list[str]]:
    """Base URI and relative entries of an index file (comments and blank lines skipped)."""
    with open(path, encoding="utf-8") as fin:
        lines = [ln.strip() for ln in fin if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise FileOpsError(f"index {path} is empty: expected a base URI on its first line")
    base, *entries = lines
    # Sedna's indexes hold "path label" lines: the file is the first token.
    return base.rstrip("/"), [entry.split()[0] for entry in entries]


def fetch_one(src: str, dst: str) -> list[str]:
    """Download one pair; return the local paths produced."""
    if dst.startswith(INDIRECT_URL_MARK):
        target = dst[len(INDIRECT_URL_MARK) :]
        index = FileOps.download(src)
        base, entries = read_index(index)
        out = []
        for rel in entries:
            local = os.path.join(target, rel.lstrip("/"))
            os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
            out.append(FileOps.download(f"{base}/{rel.lstrip('/')}", local))
        return out
    name = posixpath.basename(urlparse(src).path.rstrip("/")) if "://" in src else os.path.basename(src.rstrip("/"))
    if not dst.endswith("/") and os.path.basename(dst.rstrip("/")) != name:
        dst += "/"  # Sedna's form: the directory to download into
    if not dst.endswith("/"):
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    else:
        os.makedirs(dst, exist_ok=True)
    path = FileOps.download(src, dst, unzip=src.endswith(ARCHIVES))
    return [path]


_USAGE = "usage: python -m sedna.storage_initializer [--writable DIR ...] SRC DST [SRC DST ...]"


def make_writable(path: str) -> None:
    """Create ``path``; as root, open it to every user (sticky, like /tmp)."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() == 0:
        os.chmod(path, 0o1777)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    writable: list[str] = []
    while args and args[0] == "--writable":
        if len(args) < 2:
            print(_USAGE, file=sys.stderr)
            return 2
        writable.append(args[1])
        args = args[2:]
    if (not args and not writable) or len(args) % 2:
        print(_USAGE, file=sys.stderr)
        return 2
    for path in writable:
        try:
            make_writable(path)
        except OSError as exc:
            print(f"storage-initializer: making {path} writable failed: {exc}", file=sys.stderr)
            return 1
        print(f"storage-initializer: {path} is writable")
    pairs = list(zip(args[::2], args[1::2], strict=True))
    for i, (src, dst) in enumerate(pairs, 1):
        start = time.monotonic()
        try:
            paths = fetch_one(src, dst)
        except (FileOpsError, OSError) as exc:
            print(f"storage-initializer: [{i}/{len(pairs)}] {src} -> {dst} failed: {exc}", file=sys.stderr)
            return 1
        print(f"storage-initializer: [{i}/{len(pairs)}] {src} -> {dst}: {len(paths)} file(s) in {time.monotonic() - start:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
