"""A real S3-compatible server for the object-storage tests: ``scripts/s3server`` (gofakes3 with
SigV4 checking), built by ``scripts/build-s3-server.sh`` into ``~/.cache/sedna/bin`` (reused when
its sources are unchanged), started on a free port of 127.0.0.1 with an access key and a secret
key, with one bucket created through the S3 API. A build failure fails the tests with its
output: they never skip."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "build-s3-server.sh"
BIN_DIR = Path(os.environ.get("SEDNA_S3_SERVER_DIR") or Path.home() / ".cache" / "sedna" / "bin")


@dataclass
class S3Server:
    host: str
    port: int
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    bucket: str
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )

    def put(self, key: str, body: bytes) -> str:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents") or [])

    def secret_manifest(self, name: str = "s3-credential", namespace: str | None = None) -> dict[str, Any]:
        """A Sedna-style credential Secret for this server (endpoint in annotations, http)."""
        meta: dict[str, Any] = {
            "name": name,
            "annotations": {"s3-endpoint": f"{self.host}:{self.port}", "s3-usehttps": "0"},
        }
        if namespace:
            meta["namespace"] = namespace
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "type": "Opaque",
            "stringData": {"ACCESS_KEY_ID": self.access_key, "SECRET_ACCESS_KEY": self.secret_key},
        }


def build_s3_server() -> Path:
    """Build (or reuse) the server binary; fails the test run with the build output."""
    started = time.monotonic()
    done = subprocess.run(
        ["bash", str(BUILD)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "SEDNA_S3_SERVER_DIR": str(BIN_DIR)},
    )
    binary = BIN_DIR / "s3server"
    if done.returncode != 0 or not binary.exists():
        pytest.fail(
            f"building the S3 test server failed ({BUILD}, exit {done.returncode}, "
            f"{time.monotonic() - started:.0f}s):\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server_binary() -> Path:
    return build_s3_server()


@pytest.fixture(scope="module")
def s3(s3_server_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A running server (one per test module) with bucket ``sedna``."""
    log = tmp_path_factory.mktemp("s3server") / "s3server.log"
    # keys with characters that need care ('/', '+'), as real secret keys have
    server = S3Server(
        host="127.0.0.1",
        port=_free_port(),
        access_key="AK" + secrets.token_hex(8).upper(),
        secret_key=secrets.token_urlsafe(24) + "/+x",
        bucket="sedna",
        log=log,
    )
    env = {**os.environ, "S3SERVER_ACCESS_KEY": server.access_key, "S3SERVER_SECRET_KEY": server.secret_key}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(s3_server_binary), "-addr", f"{server.host}:{server.port}", "-quiet"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 15
        while b"listening on" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the S3 test server did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.02)
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
