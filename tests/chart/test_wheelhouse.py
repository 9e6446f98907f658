"""The image builder's wheel cache stays bounded: wheels shared between wheelhouses are stored
once, and wheelhouses nobody used for days are removed (a machine that runs the tests daily
otherwise gathers a 3 GB torch download per requirements change; one CI machine ran out of disk)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from e2e.node import images


def _wheelhouse(root: Path, name: str, wheels: dict[str, bytes], used_days_ago: float) -> Path:
    path = root / name
    path.mkdir(parents=True)
    for wheel, data in wheels.items():
        (path / wheel).write_bytes(data)
    marker = path / ".complete"
    marker.write_text("reqs")
    stamp = time.time() - used_days_ago * 86400
    os.utime(marker, (stamp, stamp))
    return path


def test_shared_wheels_become_one_file(tmp_path: Path) -> None:
    old = _wheelhouse(tmp_path, "py311-old", {"torch-2.1-cp311.whl": b"t" * 1000, "a-1.0.whl": b"a"}, 0)
    new = _wheelhouse(tmp_path, "py311-new", {"torch-2.1-cp311.whl": b"t" * 1000, "a-1.0.whl": b"A" * 5}, 0)

    saved = images._link_shared_wheels(tmp_path, new)

    assert saved == 1000
    assert (new / "torch-2.1-cp311.whl").stat().st_ino == (old / "torch-2.1-cp311.whl").stat().st_ino
    # Same name, other size: not the same wheel, kept apart.
    assert (new / "a-1.0.whl").read_bytes() == b"A" * 5
    assert (new / "a-1.0.whl").stat().st_ino != (old / "a-1.0.whl").stat().st_ino
    assert images._link_shared_wheels(tmp_path, new) == 0  # already linked
    assert not list(new.glob("*.link"))


def test_idle_wheelhouses_are_pruned_and_the_kept_one_stays(tmp_path: Path) -> None:
    idle = _wheelhouse(tmp_path, "py311-idle", {"x.whl": b"x"}, images.WHEELHOUSE_MAX_IDLE_S / 86400 + 1)
    recent = _wheelhouse(tmp_path, "py311-recent", {"y.whl": b"y"}, 1)
    keep = _wheelhouse(tmp_path, "py311-keep", {"z.whl": b"z"}, 30)

    images._prune_wheelhouses(tmp_path, keep=keep)

    assert not idle.exists()
    assert recent.exists() and keep.exists()


def test_a_used_wheelhouse_is_marked_as_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "cache_dir", lambda: tmp_path)
    extras = ("worker",)
    name = f"py{sys.version_info[0]}{sys.version_info[1]}-{images.requirements_key(extras)}"
    ready = _wheelhouse(tmp_path / "wheels", name, {"w.whl": b"w"}, 2)

    assert images.wheelhouse(extras) == ready  # complete: nothing downloaded
    assert time.time() - (ready / ".complete").stat().st_mtime < 60
