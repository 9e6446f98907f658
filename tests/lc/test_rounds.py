"""Round data files, hot-update config and the LL deploy copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sedna_operator.lc import (
    RoundConflictError,
    append_eval_version,
    deploy_hot_update_model,
    deploy_ll_index,
    ensure_job_dirs,
    split_new_samples,
    write_hot_update_config,
    write_round,
)
from sedna_operator.lc.rounds import index_lines, url_prefix


def test_split_like_sedna() -> None:
    lines = [f"s{i}" for i in range(7)]
    assert split_new_samples(lines, 0.8) == (lines[:5], lines[5:])  # int(0.8 * 7) = 5
    assert split_new_samples(lines, 1.0) == (lines, [])
    assert split_new_samples(lines, 0.0) == ([], lines)
    assert split_new_samples([], 0.8) == ([], [])
    with pytest.raises(ValueError):
        split_new_samples(lines, 1.5)


def test_eval_versions_keep_five() -> None:
    versions: list[list[str]] = []
    for i in range(7):
        versions = append_eval_version(versions, [f"e{i}"])
    assert versions == [["e2"], ["e3"], ["e4"], ["e5"], ["e6"]]
    assert append_eval_version(versions, []) == versions


def test_round_files_layout_and_content(tmp_path: Path) -> None:
    out = tmp_path / "output"
    dirs = ensure_job_dirs(out)
    assert all(d.is_dir() for d in dirs.values())
    files = write_round(out, 1, train=["a.jpg 1", "b.jpg 0"], eval=["c.jpg 1"])
    assert files.train_data == str(out / "data/train/1/data.txt")
    assert files.eval_data == str(out / "data/eval/1/data.txt")
    assert (out / "data/train/1/data.txt").read_text() == "a.jpg 1\nb.jpg 0\n"
    assert (out / "data/eval/1/data.txt").read_text() == "c.jpg 1\n"
    assert files.train_index is None and files.eval_index is None  # local dataset: no index
    assert len(files.written) == 2
    # no temporary files left behind
    assert sorted(p.name for p in (out / "data/train/1").iterdir()) == ["data.txt"]


def test_round_files_are_idempotent_and_refuse_conflicts(tmp_path: Path) -> None:
    write_round(tmp_path, 2, train=["x"])
    mtime = (tmp_path / "data/train/2/data.txt").stat().st_mtime_ns
    again = write_round(tmp_path, 2, train=["x"])
    assert again.written == []
    assert (tmp_path / "data/train/2/data.txt").stat().st_mtime_ns == mtime
    with pytest.raises(RoundConflictError, match="already exists with other content"):
        write_round(tmp_path, 2, train=["y"])
    assert (tmp_path / "data/train/2/data.txt").read_text() == "x\n"
    write_round(tmp_path, 2, train=["y"], overwrite=True)
    assert (tmp_path / "data/train/2/data.txt").read_text() == "y\n"
    with pytest.raises(ValueError):
        write_round(tmp_path, 0, train=["x"])


def test_remote_dataset_gets_data_index(tmp_path: Path) -> None:
    url = "s3://bucket/helmet/train_data/index.txt"
    files = write_round(tmp_path, 1, train=["images/a.jpg labels/a.txt", "images/b.jpg 3"], dataset_url=url)
    assert files.train_index == str(tmp_path / "data/train/1/dataIndex.txt")
    assert (tmp_path / "data/train/1/dataIndex.txt").read_text() == (
        "s3://bucket/helmet/train_data/\nimages/a.jpg\nlabels/a.txt\nimages/b.jpg\n"
    )
    assert url_prefix("s3://b/idx.txt") == "s3://b/"
    assert index_lines(["a b.c"], "p/") == ["p/", "b.c"]


def test_hot_update_config_and_model(tmp_path: Path) -> None:
    now = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    cfg = tmp_path / "hot" / "model_config.json"
    content = write_hot_update_config(cfg, "/model-hot-update/m.pb", now)
    assert (
        json.loads(cfg.read_text())
        == content
        == {
            "model_config": {
                "model_path": "/model-hot-update/m.pb",
                "model_update_time": "2024-01-01T12:00:00+00:00",
            }
        }
    )
    trained = tmp_path / "train" / "1" / "model.pb"
    trained.parent.mkdir(parents=True)
    trained.write_bytes(b"weights")
    path = deploy_hot_update_model(trained, tmp_path / "hot", now)
    assert path == "/model-hot-update/model.pb"
    assert (tmp_path / "hot" / "model.pb").read_bytes() == b"weights"
    assert json.loads(cfg.read_text())["model_config"]["model_path"] == path


def test_ll_deploy_copies_index(tmp_path: Path) -> None:
    src = tmp_path / "eval" / "1" / "index.pkl"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"kb-index")
    target = deploy_ll_index(src, tmp_path / "out")
    assert target == str(tmp_path / "out" / "deploy" / "index.pkl")
    assert Path(target).read_bytes() == b"kb-index"
    src.write_bytes(b"kb-index-2")
    deploy_ll_index(src, tmp_path / "out")  # replaced atomically on the next deploy
    assert Path(target).read_bytes() == b"kb-index-2"
