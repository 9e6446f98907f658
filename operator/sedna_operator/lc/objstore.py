"""Object storage for the LC: s3 index files, round files and deploy copies, with a Secret's keys.

Sedna's LC reads s3 dataset indexes, uploads round files to an s3 ``outputDir`` and copies
deploy models with minio and the credential the GM attaches. Here the credential is the Secret
named by the resource's ``credentialName`` (as for the workers, see
:mod:`sedna_operator.controllers.mounts`):

* data keys ``ACCESS_KEY_ID`` and ``SECRET_ACCESS_KEY``;
* the endpoint from the annotations ``s3-endpoint`` (host[:port] or a URL) and ``s3-usehttps``
  (``"0"``: http; default https), as Sedna, else from an ``S3_ENDPOINT_URL`` data key.

:class:`S3Client` is a small path-style S3 client (GET, PUT, HEAD, server-side COPY) signing
with AWS Signature Version 4 over ``httpx`` (a core dependency: the control-plane image needs
no AWS SDK). :class:`Storage` reads and writes a URL, whether a host path or ``s3://`` /
``obs://``. Every failure is an :class:`ObjectStoreError` (an ``OSError``) whose message names
the operation, the bucket and key and the Secret, and says what to check; keys never appear in
messages, logs or ``repr``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from ..core.secrets import decode_secret as decode_secret_data  # one decoder (re-exported)

__all__ = [
    "S3_SCHEMES",
    "CredentialError",
    "ObjectStoreError",
    "ObjectNotFoundError",
    "S3Credentials",
    "credentials_from_secret",
    "decode_secret_data",
    "is_s3_url",
    "split_s3_url",
    "S3Client",
    "Storage",
]

S3_SCHEMES = ("s3", "obs")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class CredentialError(ValueError):
    """The credential Secret is missing or lacks a key; the message says which and what to do."""


class ObjectStoreError(OSError):
    """An object-storage operation failed; the message names the object, the Secret and the cause."""


class ObjectNotFoundError(ObjectStoreError, FileNotFoundError):
    """The object (or its bucket) does not exist."""


def is_s3_url(url: str) -> bool:
    return urlparse(url).scheme.lower() in S3_SCHEMES


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://bucket/key`` (``obs://`` too)."""
    parsed = urlparse(url)
    if parsed.scheme.lower() not in S3_SCHEMES or not parsed.netloc:
        raise ValueError(f"{url} is not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


@dataclass(frozen=True)
class S3Credentials:
    """An endpoint and keys; ``source`` (``namespace/name`` of the Secret) is what messages name."""

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    source: str = ""
    region: str = "us-east-1"

    def secrets(self) -> tuple[str, ...]:
        """The values that must never be shown."""
        return tuple(v for v in (self.access_key, self.secret_key) if v)


def endpoint_of(annotations: Mapping[str, str], data: Mapping[str, str]) -> str | None:
    """Sedna's endpoint: the ``s3-endpoint`` annotation (https unless ``s3-usehttps: "0"``), else
    the ``S3_ENDPOINT_URL`` key."""
    endpoint = str(annotations.get("s3-endpoint") or "").strip()
    if endpoint:
        if "://" not in endpoint:
            scheme = "http" if str(annotations.get("s3-usehttps", "1")).strip() == "0" else "https"
            endpoint = f"{scheme}://{endpoint}"
        return endpoint.rstrip("/")
    url = str(data.get("S3_ENDPOINT_URL") or "").strip()
    if url:
        return (url if "://" in url else f"https://{url}").rstrip("/")
    return None


def credentials_from_secret(secret: Mapping[str, Any] | None, namespace: str, name: str) -> S3Credentials:
    """The S3 credentials of the v1 Secret ``namespace/name`` (None: it does not exist)."""
    where = f"{namespace}/{name}"
    if secret is None:
        raise CredentialError(
            f"credential Secret {where} not found: create it (keys ACCESS_KEY_ID, SECRET_ACCESS_KEY,"
            " annotation s3-endpoint) in the resource's namespace"
        )
    data = decode_secret_data(secret)
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    missing = [k for k in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY") if not data.get(k)]
    if missing:
        raise CredentialError(f"credential Secret {where} has no {' or '.join(missing)} key")
    endpoint = endpoint_of(annotations, data)
    if endpoint is None:
        raise CredentialError(
            f"credential Secret {where} names no endpoint: add the annotation s3-endpoint"
            " (and s3-usehttps: \"0\" for http) or an S3_ENDPOINT_URL key"
        )
    return S3Credentials(
        endpoint=endpoint,
        access_key=data["ACCESS_KEY_ID"],
        secret_key=data["SECRET_ACCESS_KEY"],
        source=where,
        region=data.get("S3_REGION") or data.get("AWS_REGION") or "us-east-1",
    )


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _aws_quote(text: str, safe: str = "") -> str:
    return quote(text, safe="-_.~" + safe)


_CODE = re.compile(r"<Code>([^<]+)</Code>")


class S3Client:
    """Path-style S3 with SigV4 (GET / PUT / HEAD / COPY of single objects)."""

    def __init__(self, credentials: S3Credentials, *, timeout: float = 30.0) -> None:
        self.credentials = credentials
        self.timeout = timeout
        parsed = urlparse(credentials.endpoint)
        self._base = f"{parsed.scheme}://{parsed.netloc}"
        self._host = parsed.netloc

    def _signed_headers(
        self, method: str, path: str, payload_hash: str, extra: Mapping[str, str]
    ) -> dict[str, str]:
        now = datetime.now(UTC)
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        headers = {
            "host": self._host,
            "x-amz-content-sha256": payload_hash,
            "x-amz-date": amz_date,
            **{k.lower(): v for k, v in extra.items()},
        }
        names = sorted(headers)
        canonical = "\n".join(
            [
                method,
                path,
                "",
                "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names),
                ";".join(names),
                payload_hash,
            ]
        )
        scope = f"{day}/{self.credentials.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self.credentials.secret_key).encode()
        for part in (day, self.credentials.region, "s3", "aws4_request"):
            key = _hmac(key, part)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return headers

    def _request(
        self, op: str, method: str, url: str, body: bytes = b"", extra: Mapping[str, str] | None = None
    ) -> httpx.Response:
        bucket, key = split_s3_url(url)
        path = "/" + _aws_quote(bucket) + "/" + _aws_quote(key, "/")
        payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        headers = self._signed_headers(method, path, payload_hash, extra or {})
        try:
            with httpx.Client(timeout=self.timeout) as client:
                resp = client.request(method, self._base + path, content=body or None, headers=headers)
        except httpx.HTTPError as exc:
            raise ObjectStoreError(
                f"s3 {op} of {url} failed: cannot reach the endpoint {self.credentials.endpoint} of"
                f" credential Secret {self.credentials.source} ({type(exc).__name__}: {exc}); check its"
                " s3-endpoint annotation and that the server is up"
            ) from None
        if resp.status_code >= 300:
            self._raise(op, url, bucket, key, resp)
        return resp

    def _raise(self, op: str, url: str, bucket: str, key: str, resp: httpx.Response) -> None:
        match = _CODE.search(resp.text) if resp.content else None
        code = match.group(1) if match else resp.reason_phrase
        what = f"s3 {op} of {url} (bucket {bucket!r}, key {key!r}) failed: {code} (HTTP {resp.status_code})"
        secret = f"credential Secret {self.credentials.source}"
        if resp.status_code in (401, 403):
            raise ObjectStoreError(
                f"{what}: access refused; check ACCESS_KEY_ID/SECRET_ACCESS_KEY of {secret} and that"
                f" they may {op} in bucket {bucket!r}"
            )
        if resp.status_code == 404:
            hint = f"bucket {bucket!r} does not exist" if code == "NoSuchBucket" else "no such object"
            raise ObjectNotFoundError(f"{what}: {hint} at the endpoint of {secret}")
        raise ObjectStoreError(f"{what} at the endpoint of {secret}")

    def get(self, url: str) -> bytes:
        return self._request("download", "GET", url).content

    def put(self, url: str, data: bytes) -> None:
        self._request("upload", "PUT", url, data)

    def exists(self, url: str) -> bool:
        try:
            self._request("lookup", "HEAD", url)
        except ObjectNotFoundError:
            return False
        return True

    def copy(self, source: str, target: str) -> None:
        """Server-side copy within this endpoint."""
        bucket, key = split_s3_url(source)
        self._request(
            f"copy from {source}", "PUT", target,
            extra={"x-amz-copy-source": "/" + _aws_quote(bucket) + "/" + _aws_quote(key, "/")},
        )  # fmt: skip


def _atomic_write(path: str, data: bytes) -> None:
    from .rounds import atomic_write_bytes

    atomic_write_bytes(path, data)


@dataclass
class Storage:
    """Reads and writes URLs: host paths through ``read``/``write`` (where this process sees a
    host path), ``s3://`` / ``obs://`` with ``credentials``.

    ``problem`` says why there are no credentials (a missing Secret, say): an s3 URL then fails
    with it. Positive ``exists`` answers for s3 are remembered (objects written are not deleted
    under a running job), so a caller may ask every pass.
    """

    credentials: S3Credentials | None = None
    problem: str | None = None
    read: Callable[[str], str] = field(default=lambda p: p)
    write: Callable[[str], str] = field(default=lambda p: p)
    _seen: set[str] = field(default_factory=set)

    def _client(self, url: str) -> S3Client:
        if self.credentials is None:
            raise ObjectStoreError(
                f"{url} is on s3 but "
                + (self.problem or "the resource names no credentialName: set it to a Secret with the S3 keys")
            )
        return S3Client(self.credentials)

    def read_bytes(self, url: str) -> bytes:
        if is_s3_url(url):
            return self._client(url).get(url)
        return Path(self.read(url.removeprefix("file://"))).read_bytes()

    def write_bytes(self, url: str, data: bytes) -> None:
        if is_s3_url(url):
            self._client(url).put(url, data)
            self._seen.add(url)
        else:
            _atomic_write(self.write(url.removeprefix("file://")), data)

    def exists(self, url: str) -> bool:
        if not is_s3_url(url):
            return os.path.exists(self.read(url.removeprefix("file://")))
        if url in self._seen:
            return True
        found = self._client(url).exists(url)
        if found:
            self._seen.add(url)
        return found

    def copy(self, source: str, target: str) -> None:
        """Copy one file: host path or s3 on either side (s3 to s3 server-side)."""
        from .jobfiles import copy_artifact

        if is_s3_url(source) and is_s3_url(target):
            self._client(target).copy(source, target)
            self._seen.add(target)
        elif is_s3_url(source) or is_s3_url(target):
            self.write_bytes(target, self.read_bytes(source))
        else:
            copy_artifact(Path(self.read(source)), Path(self.write(target)))
