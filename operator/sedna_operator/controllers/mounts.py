"""Sedna's URL and mount semantics (reference §4.2): how a model/dataset URL reaches a worker.

- **Host path** (no scheme): the directory is mounted (hostPath) at ``/home/data/<path>``; for a
  file its parent directory is mounted and the env points at ``/home/data/<path>``. Pods with a
  host-path mount get ``DATA_PATH_PREFIX=/home/data``.
- **Remote** (``http``, ``https``, ``s3``; ``obs`` counts as s3) that is downloaded: the init
  container ``storage-initializer`` runs ``python -m sedna.storage_initializer <src> <dst>...``
  into the emptyDir ``sedna-storage-initializer``, mounted read-only at ``/downloads`` in the
  workers; the env is ``/downloads/<host><path>``.
- **Remote not downloaded** (output dirs, the FL s3 aggregation path): the env holds the URL and
  the S3 credentials are injected into the worker.
- Several URLs for one env are joined with ``;``.
- **Output host paths** (``create``): the kubelet creates a missing hostPath directory owned by
  root, mode 0755, where a worker image running as a non-root user (ours do) cannot write. The
  init container (running as root for that) makes each output directory writable first
  (``--writable DIR``: mode 1777, like /tmp), so workers need no ``runAsUser: 0``.

Credentials differ from Sedna on purpose: they are ``secretKeyRef`` env vars from the Secret named
by ``credentialName`` (keys ``ACCESS_KEY_ID``, ``SECRET_ACCESS_KEY``), not plain values. The
endpoint (``S3_ENDPOINT_URL``) is built from the Secret's ``s3-endpoint``/``s3-usehttps``
annotations when the Secret is observed, else read from an optional ``S3_ENDPOINT_URL`` key.
``Observation.inline_credentials`` restores Sedna's plain values for KubeEdge edge nodes, whose
edged cannot resolve secret references.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from .plan import DEFAULT_STORAGE_INITIALIZER_IMAGE, ObservedSecret
from .workers import PodExtras, env

__all__ = [
    "DATA_PATH_PREFIX",
    "DOWNLOADS_DIR",
    "INITIALIZER_VOLUME",
    "INITIALIZER_NAME",
    "REMOTE_SCHEMES",
    "is_remote",
    "is_s3",
    "host_mount_path",
    "MountSet",
]

DATA_PATH_PREFIX = "/home/data"
DOWNLOADS_DIR = "/downloads"
INITIALIZER_VOLUME = "sedna-storage-initializer"
INITIALIZER_NAME = "storage-initializer"
REMOTE_SCHEMES = ("http", "https", "s3", "obs")
_S3_SCHEMES = ("s3", "obs")


def is_remote(url: str) -> bool:
    """True for URLs fetched over the network (http, https, s3, obs)."""
    return urlparse(url).scheme.lower() in REMOTE_SCHEMES


def is_s3(url: str) -> bool:
    return urlparse(url).scheme.lower() in _S3_SCHEMES


def host_mount_path(path: str) -> str:
    """Where a host path appears inside the worker: ``/home/data/<path>``."""
    return posixpath.join(DATA_PATH_PREFIX, path.lstrip("/"))


def _looks_like_dir(path: str) -> bool:
    return path.endswith("/")


def _volume_name(prefix: str, key: str) -> str:
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _download_target(url: str, is_dir: bool) -> tuple[str, str]:
    """(destination dir for the initializer, env value) of a downloaded URL."""
    parsed = urlparse(url)
    local = posixpath.normpath(posixpath.join(DOWNLOADS_DIR, parsed.netloc, parsed.path.lstrip("/")))
    if is_dir or _looks_like_dir(parsed.path):
        return local, local
    return posixpath.dirname(local), local


@dataclass
class MountSet:
    """Accumulates the env, volumes, mounts and init container that a worker's URLs need.

    Call :meth:`add` for every URL env, then :meth:`extras` once.
    """

    credentials: dict[str, ObservedSecret] = field(default_factory=dict)
    inline_credentials: bool = False
    initializer_image: str = DEFAULT_STORAGE_INITIALIZER_IMAGE
    _env: list[dict[str, Any]] = field(default_factory=list)
    _volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _mounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    _downloads: list[str] = field(default_factory=list)
    _writable: dict[str, str] = field(default_factory=dict)  # container path -> volume name
    _initializer_secret: str | None = None
    _worker_secret: str | None = None
    _host_paths: bool = False

    def add(
        self,
        name: str,
        urls: str | list[str],
        *,
        download: bool = True,
        credential_name: str | None = None,
        is_dir: bool = False,
        create: bool = False,
    ) -> str:
        """Add env ``name`` for one URL (or several, ``;``-joined); returns the env value.

        ``download=False`` keeps remote URLs as they are (the worker reads or writes them
        itself, with S3 credentials). ``is_dir`` mounts a host path itself rather than its
        parent; ``create`` uses hostPath type ``DirectoryOrCreate`` (outputs) instead of
        ``Directory`` (inputs must exist, as in Sedna).
        """
        values = [self._one(u, download, credential_name, is_dir, create) for u in ([urls] if isinstance(urls, str) else urls)]
        value = ";".join(values)
        self._env.append(env(name, value))
        return value

    def _one(self, url: str, download: bool, credential_name: str | None, is_dir: bool, create: bool) -> str:
        if is_remote(url):
            if download:
                dst, value = _download_target(url, is_dir)
                self._downloads += [url, dst]
                if is_s3(url) and credential_name:
                    self._initializer_secret = self._initializer_secret or credential_name
                return value
            if is_s3(url) and credential_name:
                self._worker_secret = self._worker_secret or credential_name
            return url
        path = urlparse(url).path if url.startswith("file://") else url
        if not path.startswith("/"):
            return url  # relative or unknown: passed as is, nothing to mount
        directory = path.rstrip("/") or "/" if (is_dir or _looks_like_dir(path)) else posixpath.dirname(path)
        vol = _volume_name("sedna-host", directory)
        existing = self._volumes.get(vol)
        kind = "DirectoryOrCreate" if create else "Directory"
        if existing is None or (create and existing["hostPath"]["type"] == "Directory"):
            self._volumes[vol] = {"name": vol, "hostPath": {"path": directory, "type": kind}}
        self._mounts[vol] = {"name": vol, "mountPath": host_mount_path(directory)}
        if create:
            self._writable[host_mount_path(directory)] = vol
        self._host_paths = True
        return host_mount_path(path)

    def _credential_env(self, secret_name: str) -> list[dict[str, Any]]:
        secret = self.credentials.get(secret_name)
        out: list[dict[str, Any]] = []
        if secret is not None and secret.annotations.get("s3-endpoint"):
            endpoint = secret.annotations["s3-endpoint"]
            if "://" not in endpoint:
                scheme = "http" if secret.annotations.get("s3-usehttps", "1") == "0" else "https"
                endpoint = f"{scheme}://{endpoint}"
            out.append(env("S3_ENDPOINT_URL", endpoint))
        elif not self.inline_credentials:
            out.append(_secret_ref("S3_ENDPOINT_URL", secret_name, "S3_ENDPOINT_URL", optional=True))
        for key in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
            if self.inline_credentials:
                value = (secret.data.get(key) if secret is not None else None) or ""
                out.append(env(key, value))
            else:
                out.append(_secret_ref(key, secret_name, key))
        return out

    def extras(self) -> PodExtras:
        """The accumulated additions for :func:`workers.build_worker`."""
        out = PodExtras(env=list(self._env))
        if self._host_paths:
            out.env.append(env("DATA_PATH_PREFIX", DATA_PATH_PREFIX))
        if self._worker_secret:
            out.env.extend(self._credential_env(self._worker_secret))
        out.volumes = list(self._volumes.values())
        out.volume_mounts = list(self._mounts.values())
        init_mounts: list[dict[str, Any]] = []
        if self._downloads:
            out.volumes.append({"name": INITIALIZER_VOLUME, "emptyDir": {}})
            out.volume_mounts.append({"name": INITIALIZER_VOLUME, "mountPath": DOWNLOADS_DIR, "readOnly": True})
            init_mounts.append({"name": INITIALIZER_VOLUME, "mountPath": DOWNLOADS_DIR})
        if self._downloads or self._writable:
            writable = sorted(self._writable)
            init_mounts += [{"name": self._writable[path], "mountPath": path} for path in writable]
            init: dict[str, Any] = {
                "name": INITIALIZER_NAME,
                "image": self.initializer_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-m", "sedna.storage_initializer"],
                "args": [*(a for path in writable for a in ("--writable", path)), *self._downloads],
                "volumeMounts": init_mounts,
                "resources": {
                    "limits": {"cpu": "1", "memory": "1Gi"},
                    "requests": {"cpu": "100m", "memory": "100Mi"},
                },
            }
            if writable:
                # Only root may open up a directory the kubelet created as root.
                init["securityContext"] = {"runAsUser": 0, "runAsNonRoot": False}
            if self._initializer_secret:
                init["env"] = self._credential_env(self._initializer_secret)
            out.init_containers.append(init)
        return out


def _secret_ref(name: str, secret: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}
