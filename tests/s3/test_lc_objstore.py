"""The LC's object storage against the real S3 test server: the SigV4 client, credentials from a
Sedna Secret, s3 dataset indexes counted and monitored, round files and deploys on s3, the
cluster LC's Secret reads, and the storage initializer with a Secret's keys."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sedna_operator.lc import jobfiles
from sedna_operator.lc.datasets import DatasetMonitor, read_remote_dataset
from sedna_operator.lc.objstore import (
    CredentialError,
    ObjectNotFoundError,
    ObjectStoreError,
    S3Client,
    S3Credentials,
    Storage,
    credentials_from_secret,
)
from sedna_operator.lc.sinks import DatasetEvent, DatasetKey

from .conftest import S3Server

KEY = DatasetKey(namespace="default", name="s3-ds")


def _creds(s3: S3Server, secret_key: str | None = None) -> S3Credentials:
    return credentials_from_secret(
        {**s3.secret_manifest(), "stringData": {"ACCESS_KEY_ID": s3.access_key, "SECRET_ACCESS_KEY": secret_key or s3.secret_key}},
        "default",
        "s3-credential",
    )


def _assert_no_keys(s3: S3Server, text: str) -> None:
    assert s3.access_key not in text and s3.secret_key not in text, "a credential leaked"


def test_credentials_from_a_sedna_secret() -> None:
    data = {"ACCESS_KEY_ID": base64.b64encode(b"ak").decode(), "SECRET_ACCESS_KEY": base64.b64encode(b"sk").decode()}
    secret: dict[str, Any] = {"metadata": {"annotations": {"s3-endpoint": "minio.local:9000"}}, "data": data}
    creds = credentials_from_secret(secret, "ns", "cred")
    assert (creds.endpoint, creds.access_key, creds.secret_key, creds.source) == ("https://minio.local:9000", "ak", "sk", "ns/cred")
    assert "sk" not in repr(creds) and "'ak'" not in repr(creds)
    secret["metadata"]["annotations"]["s3-usehttps"] = "0"
    assert credentials_from_secret(secret, "ns", "cred").endpoint == "http://minio.local:9000"
    by_key = {"stringData": {"ACCESS_KEY_ID": "a", "SECRET_ACCESS_KEY": "b", "S3_ENDPOINT_URL": "http://h:1/"}}
    assert credentials_from_secret(by_key, "ns", "c").endpoint == "http://h:1"
    with pytest.raises(CredentialError, match="ns/gone not found"):
        credentials_from_secret(None, "ns", "gone")
    with pytest.raises(CredentialError, match="no SECRET_ACCESS_KEY key"):
        credentials_from_secret({"stringData": {"ACCESS_KEY_ID": "a"}}, "ns", "c")
    with pytest.raises(CredentialError, match="names no endpoint"):
        credentials_from_secret({"stringData": {"ACCESS_KEY_ID": "a", "SECRET_ACCESS_KEY": "b"}}, "ns", "c")


def test_client_round_trip_and_clear_errors(s3: S3Server) -> None:
    client = S3Client(_creds(s3))
    url = f"s3://{s3.bucket}/unit/dir with space/a(1).txt"
    client.put(url, b"one\n")
    assert client.get(url) == b"one\n"
    assert client.exists(url) and not client.exists(f"s3://{s3.bucket}/unit/none")
    client.copy(url, f"s3://{s3.bucket}/unit/copy.txt")
    assert s3.get("unit/copy.txt") == b"one\n"  # boto3 reads what the LC's client wrote
    with pytest.raises(ObjectNotFoundError, match="no such object"):
        client.get(f"s3://{s3.bucket}/unit/none")
    with pytest.raises(ObjectNotFoundError, match="bucket 'nobucket' does not exist"):
        client.get("s3://nobucket/x")
    wrong = S3Client(_creds(s3, secret_key="not-the-key"))
    with pytest.raises(ObjectStoreError) as err:
        wrong.get(url)
    message = str(err.value)
    assert "SignatureDoesNotMatch (HTTP 403)" in message and "bucket 'sedna'" in message
    assert "credential Secret default/s3-credential" in message
    _assert_no_keys(s3, message)
    down = S3Client(S3Credentials("http://127.0.0.1:9", "a", "b", "ns/x"))
    with pytest.raises(ObjectStoreError, match="cannot reach the endpoint http://127.0.0.1:9 of credential Secret ns/x"):
        down.get(url)


class _Sink:
    def __init__(self) -> None:
        self.counts: dict[DatasetKey, int] = {}
        self.events: list[DatasetEvent] = []

    async def samples_changed(self, key: DatasetKey, count: int, new_lines: list[str], first_index: int) -> None:
        self.counts[key] = count

    async def event(self, key: DatasetKey, event: DatasetEvent) -> None:
        self.events.append(event)


def test_an_s3_index_is_counted_and_monitored(s3: S3Server, tmp_path: Path) -> None:
    url = s3.put("ds/index.txt", b"a 1\nb 2\n")
    sink = _Sink()
    monitor = DatasetMonitor(sink, cache_dir=str(tmp_path / "cache"))  # type: ignore[arg-type]
    monitor.watch(KEY, url, "txt", credentials=_creds(s3))

    async def poll() -> None:
        await monitor.poll_once()

    asyncio.run(poll())
    assert sink.counts[KEY] == 2
    s3.put("ds/index.txt", b"a 1\nb 2\nc 3\nd 4\n")  # grows
    asyncio.run(poll())
    assert sink.counts[KEY] == 4
    s3.put("ds/index.txt", b"x 1\n")  # replaced by a shorter one: a new baseline, with an event
    asyncio.run(poll())
    assert sink.counts[KEY] == 1
    assert sink.events[-1].reason == "IndexTruncated" and url in sink.events[-1].message
    assert str(tmp_path) not in sink.events[-1].message  # the object is named, not the cache file
    # wrong keys: the count stays, one event naming the object and the Secret, no key in it
    monitor.watch(KEY, url, "txt", credentials=_creds(s3, secret_key="wrong"))
    asyncio.run(poll())
    asyncio.run(poll())
    assert sink.counts[KEY] == 1
    refused = [e for e in sink.events if e.reason == "IndexUnreadable"]
    assert len(refused) == 1, sink.events
    assert "403" in refused[0].message and "default/s3-credential" in refused[0].message
    # no credentials at all, then a missing object
    monitor.watch(KEY, url, "txt", credential_problem="credential Secret default/nope not found: create it")
    asyncio.run(poll())
    assert sink.events[-1].reason == "CredentialInvalid" and "default/nope not found" in sink.events[-1].message
    monitor.watch(KEY, f"s3://{s3.bucket}/ds/missing.txt", "txt", credentials=_creds(s3))
    asyncio.run(poll())
    assert sink.events[-1].reason == "IndexMissing"
    for event in sink.events:
        _assert_no_keys(s3, event.message)
    monitor.unwatch(KEY)
    assert not list((tmp_path / "cache").iterdir())  # the cache file goes with the watch


def test_round_files_and_deploys_on_s3(s3: S3Server, tmp_path: Path) -> None:
    url = s3.put("rd/index.csv", b"x,y\n1,2\n3,4\n")
    lines = read_remote_dataset(url, "csv", _creds(s3))
    assert (lines.header, lines.samples) == ("x,y", ["1,2", "3,4"])
    with pytest.raises(ObjectStoreError, match="names no credentialName"):
        read_remote_dataset(url, "csv", None)
    storage = Storage(credentials=_creds(s3))
    out = f"s3://{s3.bucket}/rd/out"
    storage.write_bytes(f"{out}/data/train/1/data.txt", b"1,2\n")
    assert storage.exists(f"{out}/data/train/1/data.txt")
    s3.put("rd/out/train/1/model.pkl", b"model-bytes")
    # LL: s3 -> s3 (server-side copy); IL hot update: s3 -> a local hot-update directory
    jobfiles.carry_out(
        {"kind": "copy", "source": f"{out}/train/1/model.pkl", "target": f"{out}/deploy/index.pkl"},
        str, str, Storage(credentials=_creds(s3)),
    )  # fmt: skip
    assert s3.get("rd/out/deploy/index.pkl") == b"model-bytes"
    hot = tmp_path / "hot"
    jobfiles.carry_out(
        {
            "kind": "hotUpdate", "source": f"{out}/train/1/model.pkl", "target": str(hot / "model.pkl"),
            "config": str(hot / "model_config.json"), "modelPath": "/model-hot-update/model.pkl",
            "requestedAt": "2026-01-01T00:00:00Z",
        },
        str, str, Storage(credentials=_creds(s3)),
    )  # fmt: skip
    assert (hot / "model.pkl").read_bytes() == b"model-bytes"
    assert "/model-hot-update/model.pkl" in (hot / "model_config.json").read_text()
    # local -> s3 too
    local = tmp_path / "m.bin"
    local.write_bytes(b"local")
    jobfiles.carry_out(
        {"kind": "copy", "source": str(local), "target": f"{out}/deploy/m.bin"}, str, str, Storage(credentials=_creds(s3))
    )
    assert s3.get("rd/out/deploy/m.bin") == b"local"
    with pytest.raises(ObjectStoreError, match="no credentialName"):
        jobfiles.carry_out({"kind": "copy", "source": str(local), "target": f"{out}/x"}, str, str)
    with pytest.raises(ValueError, match="neither a host path nor s3"):
        jobfiles.carry_out({"kind": "copy", "source": "http://h/m", "target": str(local)}, str, str)


def test_cluster_lc_plans_s3_rounds_with_the_secrets(s3: S3Server) -> None:
    """The DaemonSet LC's pass: Secrets read by name (fake API), round files uploaded, a 403
    Warning naming the bucket and the Secret."""
    from sedna_operator.lc.clusterjobs import HostPaths, plan_job
    from sedna_operator.runtime.kubernetes.client import ApiError
    from sedna_operator.runtime.kubernetes.lccreds import CredentialCache

    index = s3.put("k8s/index.txt", b"".join(f"s{i} {i}\n".encode() for i in range(10)))
    secret = s3.secret_manifest(namespace="default")
    secret["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in secret.pop("stringData").items()}
    asked: list[str] = []

    class FakeClient:
        async def request(self, method: str, path: str, **_: Any) -> Any:
            asked.append(f"{method} {path}")
            if path.endswith("/secrets/s3-credential"):
                return secret
            raise ApiError(404, "Not Found", method=method, path=path)

    cache = CredentialCache(FakeClient())  # type: ignore[arg-type]
    good = asyncio.run(cache.get("default", "s3-credential"))
    assert good[0] is not None and good[1] is None
    assert asyncio.run(cache.get("default", "s3-credential")) == good  # read once per pass
    assert asked == ["GET /api/v1/namespaces/default/secrets/s3-credential"]
    missing = asyncio.run(cache.get("default", "other"))
    assert missing[0] is None and "default/other not found" in str(missing[1])

    out = f"s3://{s3.bucket}/k8s/out"
    dataset = {"metadata": {"namespace": "default", "name": "ds"}, "spec": {"url": index, "format": "txt", "credentialName": "s3-credential"}}
    job = {
        "metadata": {"namespace": "default", "name": "job"},
        "spec": {"credentialName": "s3-credential", "outputDir": out},
        "status": {"controllerState": {"roundData": {
            "round": 1, "dataset": "ds", "from": 0, "to": 10, "trainProb": 0.8,
            "train": f"{out}/data/train/1/data.txt", "eval": f"{out}/data/eval/1/data.txt",
        }}},
    }  # fmt: skip
    work = plan_job(job, dataset, HostPaths(), {}, good, good)
    assert work.patch is not None and work.patch["files"] == {f"{out}/data/train/1/data.txt": True, f"{out}/data/eval/1/data.txt": True}
    assert s3.get("k8s/out/data/train/1/data.txt").decode().splitlines() == [f"s{i} {i}" for i in range(8)]
    assert s3.get("k8s/out/data/eval/1/data.txt").decode().splitlines() == ["s8 8", "s9 9"]
    assert s3.get("k8s/out/data/train/1/dataIndex.txt").decode().splitlines() == [f"s3://{s3.bucket}/k8s/"]
    bad = (_creds(s3, secret_key="wrong"), None)
    job["status"]["controllerState"]["roundData"]["round"] = 2  # type: ignore[index]
    job["status"]["controllerState"]["roundData"]["train"] = f"{out}/data/train/2/data.txt"  # type: ignore[index]
    work = plan_job(job, dataset, HostPaths(), {}, bad, good)
    warning = [e for e in work.events if e.type == "Warning"]
    assert warning and warning[0].reason == "RoundDataFailed"
    assert "403" in warning[0].message and "default/s3-credential" in warning[0].message
    _assert_no_keys(s3, warning[0].message)


def test_storage_initializer_downloads_an_s3_model_and_dataset_with_secret_keys(s3: S3Server, tmp_path: Path) -> None:
    """The init container's command, with the env the operator gives it (secretKeyRef values)."""
    model = s3.put("init/models/model.pkl", b"model")
    index = s3.put("init/data/index.txt", b"a 1\n")
    out = tmp_path / "downloads"
    env = {**os.environ, "S3_ENDPOINT_URL": s3.endpoint, "ACCESS_KEY_ID": s3.access_key, "SECRET_ACCESS_KEY": s3.secret_key}
    # the operator's pairs: the URL and the directory it lands in (/downloads/<bucket><dir>)
    args = [model, str(out / "sedna/init/models"), index, str(out / "sedna/init/data")]
    done = subprocess.run([sys.executable, "-m", "sedna.storage_initializer", *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (out / "sedna/init/models/model.pkl").read_bytes() == b"model"
    assert (out / "sedna/init/data/index.txt").read_bytes() == b"a 1\n"
    _assert_no_keys(s3, done.stdout + done.stderr)
    env["SECRET_ACCESS_KEY"] = "wrong-key"
    done = subprocess.run([sys.executable, "-m", "sedna.storage_initializer", model, str(tmp_path / "x")], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and model in done.stderr
    _assert_no_keys(s3, done.stdout + done.stderr)
