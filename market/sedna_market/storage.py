"""Content-addressed file store: blobs named by their sha256, written atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

from .package import safe_extract


class BlobStore:
    """``<root>/blobs/<aa>/<sha256>`` holds package zips; ``<root>/unpacked/<sha256>/`` their contents.

    Identical uploads share one blob; a blob is removed only when no record refers to it
    (the organizer decides that).  Extraction happens once per blob, into a temp dir renamed
    into place, so concurrent readers never see a half-extracted package.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "unpacked").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def blob_path(self, sha: str) -> Path:
        """Where the blob with digest ``sha`` lives."""
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"not a sha256 digest: {sha!r}")
        return self.root / "blobs" / sha[:2] / sha

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 (a no-op when already present)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if path.exists():
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def exists(self, sha: str) -> bool:
        return self.blob_path(sha).exists()

    def read(self, sha: str) -> bytes:
        return self.blob_path(sha).read_bytes()

    def unpacked(self, sha: str) -> Path:
        """Directory with the extracted package (extracted on first use)."""
        target = self.root / "unpacked" / sha
        if target.exists():
            return target
        with self._lock:
            if not target.exists():
                tmp = Path(tempfile.mkdtemp(dir=self.root / "unpacked", prefix=".tmp-"))
                try:
                    safe_extract(self.read(sha), tmp)
                    os.replace(tmp, target)
                finally:
                    if tmp.exists():
                        shutil.rmtree(tmp, ignore_errors=True)
        return target

    def delete(self, sha: str) -> None:
        """Remove a blob and its extraction."""
        self.blob_path(sha).unlink(missing_ok=True)
        shutil.rmtree(self.root / "unpacked" / sha, ignore_errors=True)
