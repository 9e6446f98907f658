"""Dataset monitor: counts the samples of ``txt`` / ``csv`` index files as they grow.

Sedna re-reads the whole index every 60 s and takes ``lines[previous:]`` as the new
samples, which goes wrong (or negative) when the file is truncated or replaced. Here:

* ``txt``: one sample per line. ``csv``: the first line is the header, every later line a
  sample. Empty lines count, as Sedna's LC counts them (Go's ``bufio.Scanner``): the count
  is the line number the next sample gets. An empty ``csv`` file (no header line) is an error
  (:class:`EmptyCSVError`, reported as an ``EmptyCSV`` event), as in Sedna.
* Only the bytes appended since the last poll are read (byte offset + line count).
* A final line without a newline is counted once it is unchanged for one poll (it may be
  half written before that). A writer that pauses in mid-line for longer than the poll
  interval and then continues the same line will have its continuation counted as a line.
* Truncation (size below the offset), rotation (another inode/device at the path) and an
  in-place rewrite (the head of the already-read bytes changed) reset the baseline: the
  file's current lines become the count, are *not* handed out as new samples, and an event
  says what happened. A missing or unreadable file keeps the last count and raises one event.
* Index files on s3 (``s3://``, ``obs://``) are fetched whole every poll with the Dataset's
  credential Secret (:mod:`.objstore`, as Sedna's LC does with minio) into a cache file that is
  rewritten in place, and counted like a local file from there (growth, truncation, rewrite).
  A failed fetch keeps the last count and raises one event naming the object and the Secret;
  the keys never reach an event or a log line.
* Other formats and http(s) index files are reported with a clear event, never counted.

:func:`poll_index` is the logic (one bounded read of one file); :class:`DatasetMonitor` is
the thin async loop that polls every watched dataset and reports to a :class:`DatasetSink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from .metrics import LCMetrics
from .objstore import (
    CredentialError,
    ObjectNotFoundError,
    ObjectStoreError,
    S3Client,
    S3Credentials,
    is_s3_url,
)
from .sinks import DatasetEvent, DatasetKey, DatasetSink

__all__ = [
    "SUPPORTED_FORMATS",
    "EmptyCSVError",
    "DatasetLines",
    "IndexState",
    "PollResult",
    "poll_index",
    "read_samples",
    "read_dataset",
    "read_remote_dataset",
    "url_to_host_path",
    "DatasetMonitor",
]

log = logging.getLogger("sedna.lc.datasets")

SUPPORTED_FORMATS = ("txt", "csv")
_HEAD_BYTES = 256
_CHUNK = 1 << 20
_REMOTE_SCHEMES = ("s3://", "http://", "https://", "obs://")


class EmptyCSVError(ValueError):
    """A ``csv`` index file without even its header line: Sedna's LC fails on it too."""


class IndexState(BaseModel):
    """What was read of one index file so far (serialisable, so a runtime may persist it)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["txt", "csv"]
    device: int = 0
    inode: int = 0
    offset: int = Field(default=0, description="Bytes consumed (through the last counted line).")
    lines: int = Field(default=0, description="Lines counted (empty ones too), the csv header included.")
    header_seen: bool = False
    header: str | None = Field(default=None, description="The csv header line, once read.")
    head_len: int = Field(default=0, description="Bytes covered by head_sha256 (<= 256).")
    head_sha256: str = ""
    tail_size: int = Field(default=0, description="Size of the unterminated last line at the last poll.")
    tail_counted: bool = Field(
        default=False, description="The last line was counted before its newline came (that newline is no line)."
    )

    @property
    def number_of_samples(self) -> int:
        return self.lines - 1 if self.format == "csv" and self.header_seen else self.lines


class PollResult(BaseModel):
    """The outcome of one poll of one index file."""

    model_config = ConfigDict(extra="forbid")

    number_of_samples: int
    new_lines: list[str] = Field(default_factory=list, description="Samples appended since the last poll.")
    first_index: int = Field(
        description="Sample index of new_lines[0] (= number_of_samples - len(new_lines))."
    )
    events: list[DatasetEvent] = Field(default_factory=list)
    reset: bool = Field(default=False, description="The baseline was reset (truncated, rotated, rewritten).")


def _head_digest(fh: BinaryIO, length: int) -> str:
    fh.seek(0)
    return hashlib.sha256(fh.read(length)).hexdigest()


def _split(data: bytes) -> tuple[list[str], bytes]:
    """Complete lines of ``data`` (stripped; empty ones kept: they count) and its unterminated
    remainder."""
    cut = data.rfind(b"\n")
    if cut < 0:
        return [], data
    lines = [raw.decode("utf-8", "replace").strip() for raw in data[:cut].split(b"\n")]
    return lines, data[cut + 1 :]


def poll_index(path: str, fmt: str, state: IndexState | None) -> tuple[IndexState, PollResult]:
    """Read what was appended to ``path`` since ``state`` (None: first look) and count it.

    Raises ``OSError`` when the file cannot be opened or read (the caller reports it),
    :class:`EmptyCSVError` for an empty ``csv`` file and ``ValueError`` for a format that is not
    ``txt``/``csv``.
    """
    if fmt not in SUPPORTED_FORMATS:
        raise ValueError(f"unsupported dataset format {fmt!r}: only txt and csv index files are counted")
    first = state is None
    events: list[DatasetEvent] = []
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if fmt == "csv" and st.st_size == 0:
            raise EmptyCSVError(f"csv index file {path} is empty: a csv dataset starts with its header line")
        if state is not None:
            why = None
            if (st.st_dev, st.st_ino) != (state.device, state.inode):
                why = ("IndexRotated", "was replaced by another file (rotated or re-created)")
            elif st.st_size < state.offset:
                why = ("IndexTruncated", f"was truncated ({st.st_size} bytes, {state.offset} already read)")
            elif state.head_len and _head_digest(fh, state.head_len) != state.head_sha256:
                why = ("IndexRewritten", "was rewritten in place (its first bytes changed)")
            if why is not None:
                events.append(DatasetEvent(reason=why[0], message=f"index file {path} {why[1]}"))
                state = None
        reset = state is None and not first
        cur = state.model_copy() if state is not None else IndexState(format=cast(Literal["txt", "csv"], fmt))
        cur.device, cur.inode = st.st_dev, st.st_ino
        fh.seek(cur.offset)
        new: list[str] = []
        remainder = b""
        first_chunk = True
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            if first_chunk and cur.tail_counted:
                # the newline ending a line already counted (it came late) makes no empty line
                chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.removeprefix(b"\n")
                cur.tail_counted = False
            first_chunk = False
            lines, remainder = _split(remainder + chunk)
            new.extend(lines)
        consumed = cur.offset + (fh.tell() - cur.offset) - len(remainder)
        if remainder and len(remainder) == cur.tail_size and not reset and not first:
            new.append(remainder.decode("utf-8", "replace").strip())  # unchanged for a poll: done
            consumed += len(remainder)
            cur.tail_size = 0
            cur.tail_counted = True
        else:
            cur.tail_size = len(remainder)
        cur.offset = consumed
        if cur.head_len < _HEAD_BYTES and cur.offset > cur.head_len:
            cur.head_len = min(cur.offset, _HEAD_BYTES)
            cur.head_sha256 = _head_digest(fh, cur.head_len)
    if fmt == "csv" and not cur.header_seen and new:
        cur.header_seen = True
        cur.header = new[0]
        cur.lines += 1
        new = new[1:]
    cur.lines += len(new)
    total = cur.number_of_samples
    if reset:
        events[-1] = DatasetEvent(
            reason=events[-1].reason,
            message=f"{events[-1].message}; the count restarts at its {total} samples, taken as the new"
            " baseline (not handed out as new samples)",
        )
        new = []
    return cur, PollResult(
        number_of_samples=total, new_lines=new, first_index=total - len(new), events=events, reset=reset
    )


class DatasetLines(BaseModel):
    """An index file read whole: its csv header line (None for txt) and its sample lines."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["txt", "csv"]
    header: str | None = None
    samples: list[str] = Field(default_factory=list)


def read_dataset(path: str, fmt: str) -> DatasetLines:
    """Every sample line of an index file, and its csv header.

    Unlike a first poll, an unterminated last line is included (Go's scanner reads it at the
    end of the file); the LC only ever uses lines the monitor has counted, so a line still
    being written is never handed out. Raises as :func:`poll_index`.
    """
    fmt = fmt.lower()
    state, result = poll_index(path, fmt, None)
    samples = list(result.new_lines)
    with open(path, "rb") as fh:
        fh.seek(state.offset)
        tail = fh.read()
    if tail:
        line = tail.decode("utf-8", "replace").strip()
        if fmt == "csv" and not state.header_seen:
            return DatasetLines(format="csv", header=line, samples=[])
        samples.append(line)
    return DatasetLines(format=cast(Literal["txt", "csv"], fmt), header=state.header, samples=samples)


def read_remote_dataset(url: str, fmt: str, credentials: S3Credentials | None, problem: str | None = None) -> DatasetLines:
    """:func:`read_dataset` of an index file on s3, fetched with ``credentials`` (raises
    :class:`~.objstore.ObjectStoreError`, an ``OSError``, naming the object and the Secret)."""
    if credentials is None:
        raise ObjectStoreError(
            f"dataset index {url} is on s3 but "
            + (problem or "the Dataset names no credentialName: set it to a Secret with the S3 keys")
        )
    data = S3Client(credentials).get(url)
    fd, tmp = tempfile.mkstemp(prefix="sedna-index-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return read_dataset(tmp, fmt)
    finally:
        os.unlink(tmp)


def read_samples(path: str, fmt: str, start: int = 0) -> list[str]:
    """Samples ``start..`` of an index file (e.g. to restore a job's unconsumed samples after a restart)."""
    return read_dataset(path, fmt).samples[start:]


def url_to_host_path(url: str, rootfs: str = "") -> str | None:
    """Local path of a dataset URL under the LC's rootfs mount, or None for remote URLs."""
    if url.startswith(_REMOTE_SCHEMES):
        return None
    path = url.removeprefix("file://")
    return os.path.join(rootfs, path.lstrip("/")) if rootfs else path


@dataclass
class _Watch:
    url: str
    format: str
    state: IndexState | None = None
    uid: str = ""
    reported: int | None = None
    problem: str | None = None
    pending_events: list[DatasetEvent] = field(default_factory=list)
    credentials: S3Credentials | None = field(default=None, repr=False)
    credential_problem: str | None = None
    cache: str | None = None


class DatasetMonitor:
    """Polls every watched dataset's index file and reports count changes and events to ``sink``.

    ``watch``/``unwatch`` are called by whoever knows the Datasets of this node (the local
    runtime, or the DaemonSet's watch of Dataset resources with ``spec.nodeName`` == node).
    """

    def __init__(
        self,
        sink: DatasetSink,
        *,
        interval: float = 60.0,
        rootfs: str = "",
        metrics: LCMetrics | None = None,
        cache_dir: str | None = None,
    ) -> None:
        self.sink = sink
        self.interval = interval
        self.rootfs = rootfs
        self.metrics = metrics
        self.cache_dir = cache_dir
        self._watches: dict[DatasetKey, _Watch] = {}
        self._stop = asyncio.Event()

    def watch(
        self,
        key: DatasetKey,
        url: str,
        fmt: str,
        state: IndexState | None = None,
        uid: str = "",
        *,
        credentials: S3Credentials | None = None,
        credential_problem: str | None = None,
    ) -> None:
        """Start (or restart, if the URL, format or object changed) watching a dataset.

        ``uid`` is the Dataset object's: one deleted and created again under the same name
        between two looks is a new dataset, whose count starts from the file again (seen on a
        real node: the new object never got a count). ``credentials`` fetch an s3 index
        (``credential_problem``: why there are none); new ones replace the old without
        restarting the count."""
        old = self._watches.get(key)
        if old is not None and (old.url, old.format, old.uid) == (url, fmt.lower(), uid):
            old.credentials, old.credential_problem = credentials, credential_problem
            return
        if old is not None:
            self._drop_cache(old)
        self._watches[key] = _Watch(
            url=url, format=fmt.lower(), state=state, uid=uid,
            credentials=credentials, credential_problem=credential_problem,
        )  # fmt: skip
        self._gauge()

    def unwatch(self, key: DatasetKey) -> None:
        old = self._watches.pop(key, None)
        if old is not None:
            self._drop_cache(old)
        self._gauge()

    @staticmethod
    def _drop_cache(watch: _Watch) -> None:
        if watch.cache:
            with contextlib.suppress(OSError):
                os.unlink(watch.cache)
            watch.cache = None

    def _fetch(self, watch: _Watch) -> str:
        """Download an s3 index into the watch's cache file, rewritten in place (same inode, so the
        poll sees growth, truncation and rewrites as for a local file); returns its path."""
        if watch.credentials is None:
            raise CredentialError(
                watch.credential_problem
                or "the Dataset names no credentialName: set it to a Secret with the S3 keys"
            )
        data = S3Client(watch.credentials).get(watch.url)
        if watch.cache is None or not os.path.exists(watch.cache):
            if self.cache_dir:
                os.makedirs(self.cache_dir, exist_ok=True)
            fd, watch.cache = tempfile.mkstemp(prefix="sedna-index-", suffix=".cache", dir=self.cache_dir or None)
            os.close(fd)
        with open(watch.cache, "r+b") as fh:
            fh.write(data)
            fh.truncate()
        return watch.cache

    def state(self, key: DatasetKey) -> IndexState | None:
        """The read position of a dataset (to persist across restarts)."""
        watch = self._watches.get(key)
        return watch.state if watch is not None else None

    @property
    def watched(self) -> list[DatasetKey]:
        return list(self._watches)

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.datasets_watched.set(len(self._watches))

    async def _problem(self, key: DatasetKey, watch: _Watch, reason: str, message: str) -> None:
        if watch.problem == message:
            return  # said once; not again every poll
        watch.problem = message
        await self._event(key, DatasetEvent(reason=reason, message=message))

    async def _event(self, key: DatasetKey, event: DatasetEvent) -> None:
        log.warning("dataset event dataset=%s reason=%s message=%s", key, event.reason, event.message)
        if self.metrics is not None:
            self.metrics.dataset_events.labels(reason=event.reason).inc()
        await self.sink.event(key, event)

    async def poll_dataset(self, key: DatasetKey) -> PollResult | None:
        """Poll one dataset now; None when it could not be counted (an event says why)."""
        watch = self._watches[key]
        if watch.format not in SUPPORTED_FORMATS:
            await self._problem(
                key, watch, "UnsupportedFormat",
                f"dataset format {watch.format!r} is not counted: only txt and csv index files are",
            )  # fmt: skip
            return None
        remote = is_s3_url(watch.url)
        path = url_to_host_path(watch.url, self.rootfs)
        if remote:
            try:
                path = await asyncio.to_thread(self._fetch, watch)
            except CredentialError as exc:
                await self._problem(
                    key, watch, "CredentialInvalid", f"index {watch.url} is on s3 and cannot be fetched: {exc}"
                )
                return None
            except ObjectNotFoundError as exc:
                await self._problem(key, watch, "IndexMissing", str(exc))
                return None
            except ObjectStoreError as exc:
                await self._problem(key, watch, "IndexUnreadable", str(exc))
                return None
        if path is None:
            await self._problem(
                key, watch, "RemoteIndexNotMonitored",
                f"index {watch.url} is remote; this LC counts local and s3 index files only",
            )  # fmt: skip
            return None
        try:
            state, result = await asyncio.to_thread(poll_index, path, watch.format, watch.state)
        except EmptyCSVError as exc:
            await self._problem(key, watch, "EmptyCSV", str(exc).replace(path, watch.url) if remote else str(exc))
            return None
        except FileNotFoundError:
            await self._problem(key, watch, "IndexMissing", f"index file {path} does not exist")
            return None
        except OSError as exc:
            await self._problem(key, watch, "IndexUnreadable", f"index file {path} cannot be read: {exc}")
            return None
        if self._watches.get(key) is not watch:
            return None  # unwatched or replaced while reading
        watch.state = state
        watch.problem = None
        for event in result.events:
            if remote:  # name the object, not the cache file
                event = DatasetEvent(reason=event.reason, message=event.message.replace(path, watch.url))
            await self._event(key, event)
        if result.number_of_samples != watch.reported:
            await self.sink.samples_changed(
                key, result.number_of_samples, result.new_lines, result.first_index
            )
            watch.reported = result.number_of_samples
        return result

    async def poll_once(self) -> dict[DatasetKey, PollResult | None]:
        """Poll every watched dataset once."""
        results: dict[DatasetKey, PollResult | None] = {}
        for key in list(self._watches):
            if key in self._watches:
                try:
                    results[key] = await self.poll_dataset(key)
                except Exception:  # one bad dataset (or sink) must not stop the others
                    log.exception("dataset poll failed dataset=%s", key)
                    results[key] = None
        return results

    async def run(self) -> None:
        """Poll every ``interval`` seconds until :meth:`stop`."""
        self._stop.clear()
        try:
            while not self._stop.is_set():
                await self.poll_once()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.interval)
        finally:
            for watch in self._watches.values():  # s3 index copies; the next poll fetches again
                self._drop_cache(watch)

    def stop(self) -> None:
        self._stop.set()
