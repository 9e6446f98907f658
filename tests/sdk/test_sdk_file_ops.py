"""FileOps on local paths and against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from sedna.common.file_ops import FileOps, FileOpsError


def test_paths() -> None:
    assert FileOps.is_remote("s3://bucket/key") and FileOps.is_remote("https://h/x")
    assert not FileOps.is_remote("/home/data/x") and not FileOps.is_remote(None)
    assert FileOps.join_path("s3://b/", "/dir/", "f.pkl") == "s3://b/dir/f.pkl"
    assert FileOps.join_path("/a", "b", "c.txt") == "/a/b/c.txt"
    assert FileOps.remove_path_prefix("/home/data/m/model.pkl", "/home/data") == "/m/model.pkl"
    assert FileOps.remove_path_prefix("/home/database/x", "/home/data") == "/home/database/x"


def test_local_download_upload_dump_load(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("hello")
    assert FileOps.download(str(src)) == str(src)  # local source without dst: as is
    copied = FileOps.download(str(src), str(tmp_path / "out") + "/")
    assert Path(copied) == tmp_path / "out" / "a.txt" and Path(copied).read_text() == "hello"
    uploaded = FileOps.upload(str(src), str(tmp_path / "up" / "b.txt"))
    assert Path(uploaded).read_text() == "hello" and src.exists()  # clean defaults to False
    target = FileOps.dump({"w": [1, 2]}, str(tmp_path / "obj.pkl"))
    assert FileOps.exists(target)
    assert FileOps.load(target) == {"w": [1, 2]}
    with pytest.raises(FileOpsError, match="missing.txt"):
        FileOps.download(str(tmp_path / "missing.txt"), str(tmp_path / "x"))


def test_local_directory_copy_and_unzip(tmp_path: Path) -> None:
    data = tmp_path / "ds"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "f.txt").write_text("x")
    out = FileOps.download(str(data), str(tmp_path / "copy"))
    assert (Path(out) / "sub" / "f.txt").read_text() == "x"
    archive = tmp_path / "ds.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(data, arcname="ds")
    extracted = FileOps.download(str(archive), unzip=True)
    assert (Path(extracted) / "ds" / "sub" / "f.txt").read_text() == "x"


def test_http_download_exists_upload(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    (root / "model.bin").write_bytes(b"\x00weights\x01")
    url = f"{base}/model.bin"
    assert FileOps.exists(url)
    assert not FileOps.exists(f"{base}/nope.bin")
    local = FileOps.download(url, str(tmp_path / "dl") + "/")
    assert Path(local).read_bytes() == b"\x00weights\x01"
    assert Path(local).name == "model.bin"
    # no dst: a fresh temp dir
    assert Path(FileOps.download(url)).read_bytes() == b"\x00weights\x01"
    # upload by PUT, then read back through the server
    src = tmp_path / "up.txt"
    src.write_text("uploaded")
    assert FileOps.upload(str(src), f"{base}/store/up.txt") == f"{base}/store/up.txt"
    assert (root / "store" / "up.txt").read_text() == "uploaded"
    obj_url = FileOps.dump([1, 2, 3], f"{base}/store/obj.pkl")
    assert FileOps.load(obj_url) == [1, 2, 3]


def test_http_errors_name_the_url(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_root
    with pytest.raises(FileOpsError) as err:
        FileOps.download(f"{base}/absent.pkl", str(tmp_path / "x.pkl"))
    assert f"{base}/absent.pkl" in str(err.value) and "404" in str(err.value)
    assert not (tmp_path / "x.pkl").exists() and not (tmp_path / "x.pkl.part").exists()


def test_http_retries_transient_failures(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_root
    path = FileOps.download(f"{base}/flaky/data.txt", str(tmp_path / "data.txt"))
    assert Path(path).read_text() == "recovered"


def test_connection_refused_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    monkeypatch.setattr(FileOps, "retries", 2)
    url = f"http://127.0.0.1:{port}/m.pkl"
    with pytest.raises(FileOpsError, match=f"download of {url} failed: ConnectError"):
        FileOps.download(url, str(tmp_path / "m.pkl"))


def test_s3_without_boto3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_boto(name: str, *args: object, **kwargs: object) -> object:
        if name == "boto3":
            raise ImportError("no boto3")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_boto)
    with pytest.raises(FileOpsError, match="boto3"):
        FileOps.download("s3://bucket/model.pkl")
