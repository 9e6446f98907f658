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


class _FakeDocker:
    """Docker as ``_check_disk`` sees it: free space, and images (tag -> deps label) that
    ``docker rmi`` removes, each freeing ``size_gb``."""

    def __init__(self, free_gb: float, labels: dict[str, str], size_gb: float) -> None:
        self.free_gb, self.labels, self.size_gb = free_gb, labels, size_gb
        self.commands: list[list[str]] = []

    def run(self, argv: list[str], **_: object) -> object:
        self.commands.append(argv)
        if argv[:2] == ["docker", "rmi"]:
            for tag in argv[2:]:
                if self.labels.pop(tag, None) is not None:
                    self.free_gb += self.size_gb
        return None

    def install(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setattr(images, "_docker_root", lambda: tmp_path)
        monkeypatch.setattr(images, "_free_gb", lambda _path: self.free_gb)
        monkeypatch.setattr(images, "_image_label", lambda tag, _label: self.labels.get(tag))
        monkeypatch.setattr(images, "_image_id", lambda tag: "sha256:x" if tag in self.labels else None)
        monkeypatch.setattr(images.subprocess, "run", self.run)
        monkeypatch.setattr(images, "cache_dir", lambda: tmp_path)
        (tmp_path / "wheels" / "w").mkdir(parents=True)
        (tmp_path / "wheels" / "w" / "torch-2.1-cp311.whl").write_bytes(b"t")


def _torch_build() -> images.ImageBuild:
    (build,) = [b for b in images.product_builds(torch=True) if b.name == "worker-torch"]
    return build


def test_up_to_date_dependencies_need_little_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = _torch_build()
    docker = _FakeDocker(free_gb=2.0, labels={build.build_stage_tag or "": build.deps_key}, size_gb=6)
    docker.install(monkeypatch, tmp_path)

    images._check_disk([build])  # 1 GiB needed: nothing pruned, nothing removed

    assert docker.commands == []


def test_short_of_disk_the_images_to_be_rebuilt_make_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = _torch_build()
    stage = build.build_stage_tag or ""
    # Built before the dependency label existed: rebuilt from scratch, about 13.5 GiB.
    docker = _FakeDocker(free_gb=8.0, labels={stage: "", build.tags[0]: ""}, size_gb=6)
    docker.install(monkeypatch, tmp_path)

    images._check_disk([build])

    assert ["docker", "rmi", build.tags[0], stage] in docker.commands
    assert docker.free_gb == 20.0


def test_still_short_the_error_says_how_much(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = _torch_build()
    docker = _FakeDocker(free_gb=3.0, labels={}, size_gb=6)
    docker.install(monkeypatch, tmp_path)

    with pytest.raises(RuntimeError, match=r"3\.0 GiB free under .*: the images need about 14 GiB"):
        images._check_disk([build])
