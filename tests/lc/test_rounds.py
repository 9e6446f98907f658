"""Round data files, hot-update config and the LL deploy copy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from sedna_operator.lc.roundfiles import round_file_content, round_file_name, round_file_paths, round_files
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


# -- round files by dataset format, written alike by both runtimes ---------------------------


def test_round_file_content_by_format() -> None:
    assert round_file_name("txt") == "data.txt" and round_file_name("CSV") == "data.csv"
    assert round_file_content(["a.jpg 1", "b.jpg 0"], "txt") == b"a.jpg 1\nb.jpg 0\n"
    assert round_file_content(["1,2,a"], "csv", "x,y,label") == b"x,y,label\n1,2,a\n"
    assert round_file_content([], "csv", "x,y,label") == b"x,y,label\n"  # an empty round keeps its columns
    with pytest.raises(ValueError, match="header"):
        round_file_content(["1,2,a"], "csv", None)
    with pytest.raises(ValueError, match="unsupported dataset format 'json'"):
        round_file_name("json")
    # the reconciler names data.txt: a csv dataset gets data.csv and the named file, both with the header
    assert round_file_paths("/o/data/train/1/data.txt", "csv") == ["/o/data/train/1/data.csv", "/o/data/train/1/data.txt"]
    assert round_file_paths("/o/data/train/1/data.txt", "txt") == ["/o/data/train/1/data.txt"]
    files = round_files({"/o/t/data.txt": ["1,a"], "/o/e/data.txt": ["2,b"], "": ["x"]}, "csv", "x,label")
    assert files == {
        "/o/t/data.csv": b"x,label\n1,a\n",
        "/o/t/data.txt": b"x,label\n1,a\n",
        "/o/e/data.csv": b"x,label\n2,b\n",
        "/o/e/data.txt": b"x,label\n2,b\n",
    }


DATASETS = {
    "txt": ("index.txt", "".join(f"img{i}.jpg {i % 3}\n" for i in range(10))),
    "csv": ("data.csv", "f0,season,label\n" + "".join(f"{i}.5,{'summer' if i % 2 else 'winter'},{i % 2}\n" for i in range(10))),
}


def _round_data(out: Path, dataset: str) -> dict[str, Any]:
    return {
        "round": 1, "dataset": dataset, "from": 0, "to": 10, "trainProb": 0.8,
        "train": str(out / "data/train/1/data.txt"), "eval": str(out / "data/eval/1/data.txt"),
    }  # fmt: skip


def _local_round(tmp_path: Path, kind: str, fmt: str) -> Path:
    from sedna_operator.lc.localjobs import prepare_lc_files
    from sedna_operator.runtime.local.loop import LocalRuntime, RuntimeConfig
    from sedna_operator.runtime.local.session import state_host_path
    from sedna_operator.runtime.local.store import Store

    name, text = DATASETS[fmt]
    index = tmp_path / name
    index.write_text(text)
    out = tmp_path / "local-out"
    rt = LocalRuntime(Store(tmp_path / "state"), RuntimeConfig(lc_url="http://127.0.0.1:1",
                      host_path=state_host_path(tmp_path / "state")), {})  # fmt: skip
    rt.store.apply({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "ds", "namespace": "default"},
                    "spec": {"url": str(index), "format": fmt.upper(), "nodeName": "n"}})  # fmt: skip
    rt.store.apply({"apiVersion": "sedna.io/v1alpha1", "kind": kind, "metadata": {"name": "job", "namespace": "default"},
                    "spec": {}})  # fmt: skip
    rt.store.patch_status(kind, "default", "job", {"controllerState": {"roundData": _round_data(out, "ds")}})
    row = rt.store.get(kind, "default", "job")
    assert row is not None
    files = prepare_lc_files(rt, row)
    assert files == {str(out / "data/train/1/data.txt"): True, str(out / "data/eval/1/data.txt"): True}
    return out


def _cluster_round(tmp_path: Path, kind: str, fmt: str) -> Path:
    from sedna_operator.lc.clusterjobs import HostPaths, plan_job

    name, _ = DATASETS[fmt]
    out = tmp_path / "cluster-out"
    dataset = {"metadata": {"name": "ds", "namespace": "default"},
               "spec": {"url": str(tmp_path / name), "format": fmt, "nodeName": "n"}}  # fmt: skip
    job = {"kind": kind, "metadata": {"name": "job", "namespace": "default"},
           "status": {"controllerState": {"roundData": _round_data(out, "ds")}}}  # fmt: skip
    work = plan_job(job, dataset, HostPaths(), {})
    assert work.patch is not None and set(work.patch["files"]) == {
        str(out / "data/train/1/data.txt"), str(out / "data/eval/1/data.txt")
    }
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["LifelongLearningJob", "IncrementalLearningJob"])
@pytest.mark.parametrize("fmt", ["txt", "csv"])
def test_both_runtimes_write_the_same_round_files(tmp_path: Path, kind: str, fmt: str) -> None:
    local = _tree(_local_round(tmp_path, kind, fmt))
    cluster = _tree(_cluster_round(tmp_path, kind, fmt))
    assert local == cluster
    _, text = DATASETS[fmt]
    lines = text.splitlines()
    if fmt == "txt":
        assert set(local) == {"data/train/1/data.txt", "data/eval/1/data.txt"}
        assert local["data/train/1/data.txt"].decode().splitlines() == lines[:8]
        assert local["data/eval/1/data.txt"].decode().splitlines() == lines[8:]
    else:  # Sedna's LL layout, and IL too here: data.csv starting with the dataset's header
        assert set(local) == {f"data/{p}/1/data.{e}" for p in ("train", "eval") for e in ("csv", "txt")}
        header, samples = lines[0], lines[1:]
        assert local["data/train/1/data.csv"].decode().splitlines() == [header, *samples[:8]]
        assert local["data/eval/1/data.csv"].decode().splitlines() == [header, *samples[8:]]
        assert local["data/train/1/data.txt"] == local["data/train/1/data.csv"]


def test_empty_csv_dataset_fails_the_round_with_one_clear_event(tmp_path: Path) -> None:
    from sedna_operator.lc.localjobs import prepare_lc_files
    from sedna_operator.runtime.local.loop import LocalRuntime, RuntimeConfig
    from sedna_operator.runtime.local.session import state_host_path
    from sedna_operator.runtime.local.store import Store

    index = tmp_path / "data.csv"
    index.write_text("")
    out = tmp_path / "out"
    rt = LocalRuntime(Store(tmp_path / "state"), RuntimeConfig(lc_url="http://127.0.0.1:1",
                      host_path=state_host_path(tmp_path / "state")), {})  # fmt: skip
    rt.store.apply({"apiVersion": "sedna.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "ds", "namespace": "default"},
                    "spec": {"url": str(index), "format": "csv", "nodeName": "n"}})  # fmt: skip
    rt.store.apply({"apiVersion": "sedna.io/v1alpha1", "kind": "LifelongLearningJob",
                    "metadata": {"name": "job", "namespace": "default"}, "spec": {}})  # fmt: skip
    rt.store.patch_status("LifelongLearningJob", "default", "job", {"controllerState": {"roundData": _round_data(out, "ds")}})
    row = rt.store.get("LifelongLearningJob", "default", "job")
    assert row is not None
    for _ in range(2):
        assert set(prepare_lc_files(rt, row).values()) == {False}
    events = [e for e in rt.store.events("LifelongLearningJob") if e.reason == "RoundDataFailed"]
    assert len(events) == 1 and "is empty: a csv dataset starts with its header line" in events[0].message
