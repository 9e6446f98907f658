"""Dataset monitor: growth, csv header, partial lines, truncation, rotation, rewrite, errors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from sedna_operator.lc import (
    DatasetKey,
    DatasetMonitor,
    LCMetrics,
    MemoryDatasetSink,
    poll_index,
    read_samples,
)
from sedna_operator.lc.datasets import EmptyCSVError, IndexState, read_dataset

KEY = DatasetKey(namespace="default", name="ds")


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def test_txt_counts_only_growth(tmp_path: Path) -> None:
    idx = tmp_path / "index.txt"
    idx.write_text("a.jpg 1\nb.jpg 0\n")
    state, res = poll_index(str(idx), "txt", None)
    assert (res.number_of_samples, res.new_lines, res.first_index) == (2, ["a.jpg 1", "b.jpg 0"], 0)
    offset = state.offset
    state, res = poll_index(str(idx), "txt", state)
    assert (res.number_of_samples, res.new_lines) == (2, [])
    assert state.offset == offset
    append(idx, "c.jpg 1\nd.jpg 1\n")
    state, res = poll_index(str(idx), "txt", state)
    assert (res.number_of_samples, res.new_lines, res.first_index, res.events) == (
        4,
        ["c.jpg 1", "d.jpg 1"],
        2,
        [],
    )
    # the state is serialisable (a runtime can persist it) and resumes exactly
    resumed = IndexState.model_validate_json(state.model_dump_json())
    append(idx, "e.jpg 0\n")
    _, res = poll_index(str(idx), "txt", resumed)
    assert (res.number_of_samples, res.new_lines) == (5, ["e.jpg 0"])


def test_empty_lines_count_as_sedna_counts_them(tmp_path: Path) -> None:
    """Sedna's LC counts lines with Go's bufio.Scanner: an empty (or blank) line is a line, so
    sample i is line i of the file in both counts; a trailing newline makes no extra line."""
    idx = tmp_path / "index.txt"
    idx.write_text("a.jpg 1\n\nb.jpg 0\n   \n")
    state, res = poll_index(str(idx), "txt", None)
    assert (res.number_of_samples, res.new_lines) == (4, ["a.jpg 1", "", "b.jpg 0", ""])
    append(idx, "\r\nc.jpg 1\r\n")
    _, res = poll_index(str(idx), "txt", state)
    assert (res.number_of_samples, res.new_lines, res.first_index) == (6, ["", "c.jpg 1"], 4)
    csv = tmp_path / "data.csv"
    csv.write_text("x,label\n1,a\n\n2,b\n")
    _, res = poll_index(str(csv), "csv", None)
    assert (res.number_of_samples, res.new_lines) == (3, ["1,a", "", "2,b"])  # lines - 1


def test_csv_header_is_not_a_sample(tmp_path: Path) -> None:
    idx = tmp_path / "data.csv"
    idx.write_text("x,y,label\n")
    state, res = poll_index(str(idx), "csv", None)
    assert (res.number_of_samples, res.new_lines) == (0, [])
    assert state.header == "x,y,label"
    append(idx, "1,2,a\n3,4,b\n")
    state, res = poll_index(str(idx), "csv", state)
    assert (res.number_of_samples, res.new_lines) == (2, ["1,2,a", "3,4,b"])
    assert read_samples(str(idx), "csv", start=1) == ["3,4,b"]
    lines = read_dataset(str(idx), "CSV")  # format names are case-insensitive (Sedna 0.4+)
    assert (lines.header, lines.samples) == ("x,y,label", ["1,2,a", "3,4,b"])


def test_empty_csv_is_an_error(tmp_path: Path) -> None:
    idx = tmp_path / "data.csv"
    idx.write_text("")
    with pytest.raises(EmptyCSVError, match="is empty: a csv dataset starts with its header line"):
        poll_index(str(idx), "csv", None)
    with pytest.raises(EmptyCSVError):
        read_dataset(str(idx), "csv")
    assert poll_index(str(tmp_path / "data.csv"), "txt", None)[1].number_of_samples == 0  # txt: 0 lines
    sink = MemoryDatasetSink()
    monitor = DatasetMonitor(sink)
    monitor.watch(KEY, str(idx), "csv")

    async def scenario() -> None:
        await monitor.poll_once()
        await monitor.poll_once()
        append(idx, "x,label\n1,a\n")
        await monitor.poll_once()

    asyncio.run(scenario())
    assert [e.reason for _, e in sink.events] == ["EmptyCSV"]  # said once, then counted
    assert sink.counts[KEY] == 1


def test_read_dataset_includes_an_unterminated_last_line(tmp_path: Path) -> None:
    """The LC reads the whole file as Go's scanner does; the monitor counts the line later."""
    idx = tmp_path / "data.csv"
    idx.write_text("x,label\n1,a\n2,b")
    assert poll_index(str(idx), "csv", None)[1].number_of_samples == 1
    assert read_dataset(str(idx), "csv").samples == ["1,a", "2,b"]
    only_header = tmp_path / "h.csv"
    only_header.write_text("x,label")
    assert (read_dataset(str(only_header), "csv").header, read_dataset(str(only_header), "csv").samples) == (
        "x,label",
        [],
    )


def test_unterminated_last_line_counts_once_stable(tmp_path: Path) -> None:
    idx = tmp_path / "index.txt"
    idx.write_text("a\nhalf")
    state, res = poll_index(str(idx), "txt", None)
    assert res.new_lines == ["a"]  # "half" may still be being written
    append(idx, "-written")
    state, res = poll_index(str(idx), "txt", state)
    assert res.new_lines == []  # it changed: still not stable
    state, res = poll_index(str(idx), "txt", state)
    assert (res.number_of_samples, res.new_lines) == (2, ["half-written"])  # unchanged for one poll
    append(idx, "\nc\n")  # the writer finishes the line later: counted once, not twice
    state, res = poll_index(str(idx), "txt", state)
    assert (res.number_of_samples, res.new_lines) == (3, ["c"])


def test_truncation_resets_baseline_with_event(tmp_path: Path) -> None:
    idx = tmp_path / "index.txt"
    idx.write_text("".join(f"s{i}\n" for i in range(10)))
    state, _ = poll_index(str(idx), "txt", None)
    with open(idx, "r+") as fh:
        fh.truncate(0)
    state, res = poll_index(str(idx), "txt", state)
    assert res.reset and res.number_of_samples == 0 and res.new_lines == [] and res.first_index == 0
    assert res.events[0].reason == "IndexTruncated"
    assert "truncated (0 bytes, 30 already read)" in res.events[0].message
    assert "new baseline" in res.events[0].message
    append(idx, "n1\nn2\n")
    state, res = poll_index(str(idx), "txt", state)
    assert (res.number_of_samples, res.new_lines, res.events) == (2, ["n1", "n2"], [])


def test_rotation_resets_baseline(tmp_path: Path) -> None:
    idx = tmp_path / "index.txt"
    idx.write_text("a\nb\nc\n")
    state, _ = poll_index(str(idx), "txt", None)
    os.rename(idx, tmp_path / "index.txt.1")
    idx.write_text("a\nb\nc\nd\ne\n")  # a new file, longer than what was read
    state, res = poll_index(str(idx), "txt", state)
    assert res.events[0].reason == "IndexRotated"
    assert (res.number_of_samples, res.new_lines, res.first_index) == (5, [], 5)
    append(idx, "f\n")
    _, res = poll_index(str(idx), "txt", state)
    assert (res.number_of_samples, res.new_lines, res.first_index) == (6, ["f"], 5)


def test_in_place_rewrite_detected(tmp_path: Path) -> None:
    idx = tmp_path / "index.txt"
    idx.write_text("old1\nold2\n")
    state, _ = poll_index(str(idx), "txt", None)
    with open(idx, "r+") as fh:  # same inode, same size or bigger, other content
        fh.write("new1\nnew2\nnew3\n")
    _, res = poll_index(str(idx), "txt", state)
    assert res.events[0].reason == "IndexRewritten"
    assert res.number_of_samples == 3 and res.new_lines == []


def test_unsupported_format_raises_clearly(tmp_path: Path) -> None:
    idx = tmp_path / "x.json"
    idx.write_text("{}\n")
    with pytest.raises(ValueError, match="unsupported dataset format 'json'"):
        poll_index(str(idx), "json", None)


def test_monitor_reports_changes_and_events_once(tmp_path: Path) -> None:
    idx = tmp_path / "index.txt"
    idx.write_text("a\nb\n")
    sink = MemoryDatasetSink()
    metrics = LCMetrics()
    monitor = DatasetMonitor(sink, interval=0.01, metrics=metrics)
    monitor.watch(KEY, str(idx), "txt")
    other = DatasetKey(namespace="default", name="bad")
    remote = DatasetKey(namespace="default", name="remote")
    missing = DatasetKey(namespace="default", name="missing")
    monitor.watch(other, str(idx), "parquet")
    monitor.watch(remote, "https://example.com/data/index.txt", "txt")
    monitor.watch(missing, str(tmp_path / "nope.txt"), "txt")
    assert metrics.datasets_watched._value.get() == 4  # type: ignore[attr-defined]

    async def scenario() -> None:
        await monitor.poll_once()
        await monitor.poll_once()
        append(idx, "c\n")
        await monitor.poll_once()
        with open(idx, "r+") as fh:
            fh.truncate(0)
        await monitor.poll_once()
        # the thin loop runs and stops on request
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(0.05)
        monitor.stop()
        await asyncio.wait_for(task, 2)

    asyncio.run(scenario())
    assert sink.counts[KEY] == 0
    assert sink.lines[KEY] == ["a", "b", "c"]
    reasons = [(k.name, e.reason) for k, e in sink.events]
    assert reasons == [
        ("bad", "UnsupportedFormat"),
        ("remote", "RemoteIndexNotMonitored"),
        ("missing", "IndexMissing"),
        ("ds", "IndexTruncated"),
    ]  # each problem said once, not every poll
    assert "only txt and csv" in sink.events[0][1].message
    assert monitor.state(KEY) is not None and monitor.state(KEY).offset == 0  # type: ignore[union-attr]
    monitor.unwatch(other)
    assert metrics.datasets_watched._value.get() == 3  # type: ignore[attr-defined]


def test_monitor_counts_only_changes(tmp_path: Path) -> None:
    idx = tmp_path / "index.txt"
    idx.write_text("a\n")
    calls: list[int] = []

    class Sink(MemoryDatasetSink):
        async def samples_changed(
            self, key: DatasetKey, n: int, new_lines: list[str], first_index: int
        ) -> None:
            calls.append(n)

    monitor = DatasetMonitor(Sink(), rootfs="")
    monitor.watch(KEY, str(idx), "TXT")

    async def scenario() -> None:
        for _ in range(3):
            await monitor.poll_once()
        append(idx, "b\n")
        await monitor.poll_once()

    asyncio.run(scenario())
    assert calls == [1, 2]


def test_a_dataset_created_again_under_its_name_is_counted_again(tmp_path: Path) -> None:
    """Deleted and created again between two looks of the LC (same namespace/name, new uid):
    the new object gets the file's count, as any new Dataset does."""
    idx = tmp_path / "index.txt"
    idx.write_text("a\nb\n")
    calls: list[int] = []

    class Sink(MemoryDatasetSink):
        async def samples_changed(self, key: DatasetKey, n: int, new_lines: list[str], first_index: int) -> None:
            calls.append(n)

    monitor = DatasetMonitor(Sink())
    monitor.watch(KEY, str(idx), "txt", uid="first")
    asyncio.run(monitor.poll_once())
    monitor.watch(KEY, str(idx), "txt", uid="first")  # the same object: nothing restarts
    asyncio.run(monitor.poll_once())
    monitor.watch(KEY, str(idx), "txt", uid="second")
    asyncio.run(monitor.poll_once())
    assert calls == [2, 2]


def test_rootfs_prefix() -> None:
    from sedna_operator.lc import url_to_host_path

    assert url_to_host_path("/data/index.txt", "/rootfs") == "/rootfs/data/index.txt"
    assert url_to_host_path("/data/index.txt") == "/data/index.txt"
    assert url_to_host_path("s3://b/index.txt", "/rootfs") is None
