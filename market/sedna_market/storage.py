"""Content-addressed file store: blobs named by their sha256, written atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from .package import MAX_FILES, MAX_UNCOMPRESSED_BYTES, safe_extract, unpacked_size


class QuotaExceeded(RuntimeError):
    """Storing a package would take the market over its storage quota (HTTP 507)."""


def _footprint(path: Path) -> int:
    """Disk bytes a stored blob accounts for: the zip plus what it unpacks to (its central
    directory is read, not the data)."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            return size + sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        return size


class BlobStore:
    """``<root>/blobs/<aa>/<sha256>`` holds package zips; ``<root>/unpacked/<sha256>/`` their contents.

    Identical uploads share one blob; a blob is removed only when no record refers to it
    (the organizer decides that).  Extraction happens once per blob, into a temp dir renamed
    into place, so concurrent readers never see a half-extracted package.

    ``max_storage_bytes`` (0: none) bounds the sum of every blob's footprint (zip bytes plus
    unpacked bytes: a small zip of zeros can unpack to hundreds of MiB); :meth:`put` refuses a
    new blob that would cross it. The sum is counted from the blobs on disk at start and kept
    current by ``put`` and ``delete`` (one process writes a store: the chart runs one replica).
    """

    def __init__(
        self,
        root: str | Path,
        max_storage_bytes: int = 0,
        max_package_bytes: int = MAX_UNCOMPRESSED_BYTES,
        max_package_files: int = MAX_FILES,
    ) -> None:
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "unpacked").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._quota_lock = threading.Lock()
        self.max_storage_bytes = max_storage_bytes
        self.max_package_bytes = max_package_bytes
        self.max_package_files = max_package_files
        self.used_bytes = sum(
            _footprint(p) for p in (self.root / "blobs").glob("*/*") if p.is_file() and not p.name.startswith(".")
        )

    def blob_path(self, sha: str) -> Path:
        """Where the blob with digest ``sha`` lives."""
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"not a sha256 digest: {sha!r}")
        return self.root / "blobs" / sha[:2] / sha

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its sha256 (a no-op when already present).

        Raises :class:`QuotaExceeded`, storing nothing, when the new blob would take the store
        over ``max_storage_bytes``.
        """
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if path.exists():
            return sha
        need = len(data) + unpacked_size(data)
        with self._quota_lock:  # check and reserve together: two uploads cannot both squeeze in
            if self.max_storage_bytes and self.used_bytes + need > self.max_storage_bytes:
                raise QuotaExceeded(
                    f"the market's storage quota is full: {self.used_bytes} of {self.max_storage_bytes} bytes used, "
                    f"and this package needs {need} (zip plus unpacked files). Delete models you no longer "
                    "need, or raise MarketSettings.max_storage_bytes / SEDNA_MARKET_MAX_STORAGE_BYTES"
                )
            self.used_bytes += need
        written = False
        try:
            written = self._write(path, data)
        finally:
            if not written:  # failed, or a concurrent identical upload stored (and counted) it
                with self._quota_lock:
                    self.used_bytes -= need
        return sha

    def charge(self, delta: int) -> None:
        """Count ``delta`` bytes stored outside the blobs (Sedna's knowledge-base files) against
        the quota; a positive one over the quota raises :class:`QuotaExceeded`, counting nothing."""
        with self._quota_lock:
            if delta > 0 and self.max_storage_bytes and self.used_bytes + delta > self.max_storage_bytes:
                raise QuotaExceeded(
                    f"the market's storage quota is full: {self.used_bytes} of {self.max_storage_bytes} bytes used, "
                    f"and this file needs {delta} more. Delete what you no longer need, or raise "
                    "MarketSettings.max_storage_bytes / SEDNA_MARKET_MAX_STORAGE_BYTES"
                )
            self.used_bytes = max(0, self.used_bytes + delta)

    def _write(self, path: Path, data: bytes) -> bool:
        if path.exists():
            return False
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
        return True

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
                    safe_extract(self.read(sha), tmp, self.max_package_bytes, self.max_package_files)
                    os.replace(tmp, target)
                finally:
                    if tmp.exists():
                        shutil.rmtree(tmp, ignore_errors=True)
        return target

    def delete(self, sha: str) -> None:
        """Remove a blob and its extraction."""
        path = self.blob_path(sha)
        try:
            freed = _footprint(path)
        except FileNotFoundError:
            freed = 0
        path.unlink(missing_ok=True)
        with self._quota_lock:
            self.used_bytes = max(0, self.used_bytes - freed)
        shutil.rmtree(self.root / "unpacked" / sha, ignore_errors=True)
