"""Moving models and datasets between local paths, http(s) and s3 (Sedna's ``FileOps``).

Every classmethod takes a URL or a local path. Remote transfers are retried on transient
failures (connection errors, HTTP 429/5xx) with exponential back-off; a final failure raises
:class:`FileOpsError` naming the URL and the reason. s3 needs ``boto3``, imported only when an
``s3://`` (or ``obs://``) URL is used, with the endpoint and keys of the worker contract
(``S3_ENDPOINT_URL``, ``ACCESS_KEY_ID``, ``SECRET_ACCESS_KEY``).

Differences from Sedna, on purpose: ``upload(clean=...)`` defaults to ``False`` (Sedna deletes
the source after every upload, which removes user files); http(s) upload is a ``PUT``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from sedna.common.config import BaseConfig
from sedna.common.log import get_logger

__all__ = ["FileOps", "FileOpsError"]

LOG = get_logger("file_ops")
T = TypeVar("T")

_REMOTE_SCHEMES = ("http", "https", "s3", "obs")
_ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")


class FileOpsError(RuntimeError):
    """A transfer failed; the message says which URL and why."""


class _RetryableHTTPError(Exception):
    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.url = url
        self.status = status


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _RetryableHTTPError | httpx.TransportError):
        return True
    # botocore's connection errors, without importing botocore
    return type(exc).__name__ in {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError"}


def _strip_file_scheme(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _target_path(dst: str | None, name: str) -> str:
    """Where to write ``name``: inside ``dst`` when it is a directory (or ends with '/')."""
    if not dst:
        return os.path.join(tempfile.mkdtemp(prefix="sedna-"), name)
    dst = _strip_file_scheme(dst)
    if dst.endswith(("/", os.sep)) or os.path.isdir(dst):
        return os.path.join(dst, name)
    return dst


class FileOps:
    """File transfer helpers with Sedna's names (all classmethods)."""

    retries: int = 3
    timeout: float = 60.0
    chunk_size: int = 1 << 20

    # ------------------------------------------------------------------ paths
    @classmethod
    def is_remote(cls, src: str | os.PathLike[str] | None) -> bool:
        """Whether ``src`` is an http(s), s3 or obs URL."""
        if not src:
            return False
        return urlparse(str(src)).scheme.lower() in _REMOTE_SCHEMES

    @classmethod
    def is_local(cls, src: str | os.PathLike[str] | None) -> bool:
        """Whether ``src`` is a local path (``file://`` included)."""
        return bool(src) and not cls.is_remote(src)

    @classmethod
    def join_path(cls, *args: str) -> str:
        """Join path parts; URLs are joined with ``/`` whatever the OS."""
        parts = [str(a) for a in args if a is not None and str(a) != ""]
        if not parts:
            return ""
        if cls.is_remote(parts[0]):
            head = parts[0].rstrip("/")
            tail = [p.strip("/") for p in parts[1:] if p.strip("/")]
            return "/".join([head, *tail])
        return os.path.join(*parts)

    @classmethod
    def remove_path_prefix(cls, org_str: str, prefix: str | None) -> str:
        """``org_str`` without the leading ``prefix`` (used to report paths relative to
        ``DATA_PATH_PREFIX``, as Sedna does)."""
        if not prefix:
            return org_str
        prefix_n = prefix.rstrip("/")
        if org_str == prefix_n:
            return "/"
        if org_str.startswith(prefix_n + "/"):
            return org_str[len(prefix_n) :]
        return org_str

    @classmethod
    def make_dir(cls, *args: str) -> str:
        """Create (parents included) the local directory ``join_path(*args)``."""
        path = cls.join_path(*args)
        os.makedirs(path, exist_ok=True)
        return path

    @classmethod
    def make_base_dir(cls, *args: str) -> str:
        """Create the parent directory of the local file ``join_path(*args)``."""
        path = cls.join_path(*args)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        return path

    @classmethod
    def delete(cls, path: str) -> None:
        """Remove a local file or directory tree (missing paths are ignored)."""
        path = _strip_file_scheme(path)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.remove(path)

    @classmethod
    def clean_folder(cls, target: list[str], clean: bool = True) -> None:
        """Ensure each directory exists, emptied first when ``clean``."""
        for path in target:
            if clean and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path, exist_ok=True)

    # ---------------------------------------------------------------- retries
    @classmethod
    def _retry(cls, url: str, action: str, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            stop=stop_after_attempt(max(1, cls.retries)),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            return retrying(fn)
        except FileOpsError:
            raise
        except _RetryableHTTPError as exc:
            raise FileOpsError(f"{action} {url} failed: HTTP {exc.status} after {cls.retries} attempts") from exc
        except httpx.TransportError as exc:
            raise FileOpsError(f"{action} {url} failed: {type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise FileOpsError(f"{action} {url} failed: {exc}") from exc
        except Exception as exc:  # boto3 / botocore errors have no common importable base
            raise FileOpsError(f"{action} {url} failed: {type(exc).__name__}: {exc}") from exc

    # ------------------------------------------------------------------- http
    @staticmethod
    def _http_headers(url: str) -> dict[str, str]:
        """Extra headers from the ``<hostname>-headers`` env var (a JSON object), as Sedna's
        storage initializer reads them."""
        host = urlparse(url).hostname or ""
        raw = os.environ.get(f"{host}-headers")
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FileOpsError(f"{host}-headers is not a JSON object: {exc}") from exc
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    @classmethod
    def _http_check(cls, url: str, resp: httpx.Response, action: str) -> None:
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _RetryableHTTPError(url, resp.status_code)
        if resp.status_code >= 400:
            raise FileOpsError(f"{action} {url} failed: HTTP {resp.status_code} {resp.reason_phrase}")

    @classmethod
    def _http_download(cls, url: str, dst: str | None) -> str:
        name = os.path.basename(urlparse(url).path.rstrip("/")) or "download"
        target = _target_path(dst, name)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        part = f"{target}.part"

        def attempt() -> str:
            with httpx.stream(
                "GET", url, headers=cls._http_headers(url), timeout=cls.timeout, follow_redirects=True
            ) as resp:
                cls._http_check(url, resp, "download of")
                with open(part, "wb") as out:
                    for chunk in resp.iter_bytes(cls.chunk_size):
                        out.write(chunk)
            # the rename makes a half-written file impossible to mistake for a model
            os.replace(part, target)
            return target

        try:
            return cls._retry(url, "download of", attempt)
        finally:
            if os.path.exists(part):
                os.remove(part)

    @classmethod
    def _http_upload(cls, src: str, url: str) -> str:
        if os.path.isdir(src):
            raise FileOpsError(f"upload to {url} failed: http(s) upload takes a file, {src} is a directory")

        def attempt() -> str:
            with open(src, "rb") as fin:
                resp = httpx.put(url, content=fin.read(), headers=cls._http_headers(url), timeout=cls.timeout)
            cls._http_check(url, resp, "upload to")
            return url

        return cls._retry(url, "upload to", attempt)

    @classmethod
    def _http_exists(cls, url: str) -> bool:
        def attempt() -> bool:
            headers = cls._http_headers(url)
            resp = httpx.head(url, headers=headers, timeout=cls.timeout, follow_redirects=True)
            if resp.status_code in (405, 501):  # servers without HEAD
                with httpx.stream("GET", url, headers=headers, timeout=cls.timeout) as get:
                    resp = get
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _RetryableHTTPError(url, resp.status_code)
            return resp.status_code < 400

        return cls._retry(url, "existence check of", attempt)

    # --------------------------------------------------------------------- s3
    @classmethod
    def _s3_client(cls) -> Any:
        try:
            import boto3
        except ImportError as exc:
            raise FileOpsError("s3 URLs need boto3, which is not installed (pip install boto3)") from exc
        endpoint = BaseConfig.s3_endpoint_url
        if endpoint and "://" not in endpoint:
            endpoint = f"https://{endpoint}"
        return boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            aws_access_key_id=BaseConfig.access_key_id,
            aws_secret_access_key=BaseConfig.secret_access_key,
        )

    @staticmethod
    def _s3_split(url: str) -> tuple[str, str]:
        parsed = urlparse(url)
        return parsed.netloc, parsed.path.lstrip("/")

    @classmethod
    def _s3_download(cls, url: str, dst: str | None) -> str:
        bucket, key = cls._s3_split(url)

        def attempt() -> str:
            client = cls._s3_client()
            listing = client.list_objects_v2(Bucket=bucket, Prefix=key)
            objects = [o["Key"] for o in listing.get("Contents", [])]
            if key in objects:  # a single object
                target = _target_path(dst, os.path.basename(key))
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                client.download_file(bucket, key, target)
                return target
            prefix = key.rstrip("/") + "/" if key else ""
            objects = [o for o in objects if o.startswith(prefix)]
            if not objects:
                raise FileOpsError(f"download of {url} failed: no such object or prefix")
            root = dst or tempfile.mkdtemp(prefix="sedna-")
            for obj in objects:
                target = os.path.join(root, obj[len(prefix) :])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                client.download_file(bucket, obj, target)
            return root

        return cls._retry(url, "download of", attempt)

    @classmethod
    def _s3_upload(cls, src: str, url: str) -> str:
        bucket, key = cls._s3_split(url)

        def attempt() -> str:
            client = cls._s3_client()
            if os.path.isdir(src):
                for root, _, files in os.walk(src):
                    for name in files:
                        path = os.path.join(root, name)
                        rel = os.path.relpath(path, src).replace(os.sep, "/")
                        client.upload_file(path, bucket, f"{key.rstrip('/')}/{rel}")
            else:
                target = f"{key.rstrip('/')}/{os.path.basename(src)}" if key.endswith("/") or not key else key
                client.upload_file(src, bucket, target)
            return url

        return cls._retry(url, "upload to", attempt)

    @classmethod
    def _s3_exists(cls, url: str) -> bool:
        bucket, key = cls._s3_split(url)

        def attempt() -> bool:
            listing = cls._s3_client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
            return bool(listing.get("KeyCount", 0))

        return cls._retry(url, "existence check of", attempt)

    # ------------------------------------------------------------ public API
    @classmethod
    def exists(cls, folder: str | None) -> bool:
        """Whether the local path or remote object/prefix exists (HTTP 4xx -> ``False``)."""
        if not folder:
            return False
        folder = str(folder)
        scheme = urlparse(folder).scheme.lower()
        if scheme in ("http", "https"):
            return cls._http_exists(folder)
        if scheme in ("s3", "obs"):
            return cls._s3_exists(folder)
        return os.path.exists(_strip_file_scheme(folder))

    @classmethod
    def download(cls, src: str, dst: str | None = None, unzip: bool = False) -> str:
        """Fetch ``src`` and return its local path.

        ``dst`` is a file path, or a directory (existing, or ending with ``/``) to put it in;
        without ``dst`` a local ``src`` is returned as is and a remote one lands in a new
        temporary directory. With ``unzip``, ``.tar.gz``/``.tgz``/``.tar``/``.zip`` archives are
        extracted next to the download and the extraction directory is returned.
        """
        if not src:
            raise FileOpsError("download failed: empty source URL")
        src = str(src)
        scheme = urlparse(src).scheme.lower()
        LOG.debug("download %s -> %s", src, dst)
        if scheme in ("http", "https"):
            path = cls._http_download(src, dst)
        elif scheme in ("s3", "obs"):
            path = cls._s3_download(src, dst)
        else:
            path = cls._local_copy(_strip_file_scheme(src), dst, "download of")
        if unzip and path.endswith(_ARCHIVES) and os.path.isfile(path):
            path = cls._extract(path)
        return path

    @classmethod
    def upload(cls, src: str, dst: str, tar: bool = False, clean: bool = False) -> str:
        """Put the local file or directory ``src`` at ``dst`` and return ``dst``.

        ``tar`` packs ``src`` into ``<src>.tar.gz`` first; ``clean`` deletes the local source
        after a successful remote upload.
        """
        if not src or not os.path.exists(src):
            raise FileOpsError(f"upload to {dst} failed: source {src!r} does not exist")
        if not dst or os.path.abspath(src) == os.path.abspath(_strip_file_scheme(dst)):
            return src
        if tar:
            archive = f"{src.rstrip('/')}.tar.gz"
            with tarfile.open(archive, "w:gz") as tf:
                tf.add(src, arcname=os.path.basename(src.rstrip("/")))
            src = archive
        scheme = urlparse(dst).scheme.lower()
        if scheme in ("http", "https"):
            result = cls._http_upload(src, dst)
        elif scheme in ("s3", "obs"):
            result = cls._s3_upload(src, dst)
        else:
            return cls._local_copy(src, dst, "upload to")
        if clean:
            cls.delete(src)
        return result

    @classmethod
    def dump(cls, obj: Any, dst: str | None = None) -> str:
        """Serialise ``obj`` (joblib when installed, else pickle) and upload it to ``dst``."""
        fd, name = tempfile.mkstemp(prefix="sedna-", suffix=".pkl")
        os.close(fd)
        try:
            import joblib

            joblib.dump(obj, name)
        except ImportError:
            with open(name, "wb") as out:
                pickle.dump(obj, out)
        if not dst:
            return name
        try:
            return cls.upload(name, dst)
        finally:
            if os.path.exists(name) and os.path.abspath(name) != os.path.abspath(_strip_file_scheme(dst)):
                os.remove(name)

    @classmethod
    def load(cls, src: str) -> Any:
        """Download ``src`` and deserialise it (the counterpart of :meth:`dump`).

        Only load files you trust: pickle runs code on load.
        """
        path = cls.download(src)
        try:
            import joblib

            return joblib.load(path)
        except ImportError:
            with open(path, "rb") as fin:
                return pickle.load(fin)

    @classmethod
    def dump_pickle(cls, obj: Any, filename: str) -> None:
        """Pickle ``obj`` into the local file ``filename`` (Sedna's name)."""
        with open(filename, "wb") as out:
            pickle.dump(obj, out)

    @classmethod
    def load_pickle(cls, filename: str) -> Any:
        """Unpickle a local file (trusted files only: pickle runs code on load)."""
        with open(filename, "rb") as fin:
            return pickle.load(fin)

    @classmethod
    def obj_to_pickle_string(cls, obj: Any) -> str:
        """``obj`` pickled and base64-encoded (a string safe in JSON)."""
        return base64.b64encode(pickle.dumps(obj)).decode("ascii")

    @classmethod
    def pickle_string_to_obj(cls, text: str | bytes) -> Any:
        """The counterpart of :meth:`obj_to_pickle_string` (trusted input only)."""
        return pickle.loads(base64.b64decode(text))

    @classmethod
    def copy_folder(cls, src: str, dst: str) -> str:
        """Copy the local folder ``src`` into ``dst`` (merged when ``dst`` exists)."""
        if not os.path.isdir(src):
            raise FileOpsError(f"copy folder {src} failed: not a directory")
        shutil.copytree(src, dst, dirs_exist_ok=True)
        return dst

    @classmethod
    def copy_file(cls, src: str, dst: str) -> str:
        """Copy a local file; a directory ``dst`` means "into it"; an empty ``dst`` does nothing."""
        if not dst:
            return src
        return cls._local_copy(src, dst, "copy to")

    @classmethod
    def s3_download(cls, src: str, dst: str | None = None) -> str:
        """Download an ``s3://bucket/key`` object (or prefix) to ``dst``."""
        return cls._s3_download(src, dst)

    @classmethod
    def s3_upload(cls, src: str, dst: str) -> str:
        """Upload a local file or folder to ``s3://bucket/key``."""
        return cls._s3_upload(src, dst)

    @classmethod
    def http_download(cls, src: str, dst: str | None = None) -> str:
        """Download an http(s) URL to ``dst`` (a temporary file when omitted)."""
        return cls._http_download(src, dst)

    @classmethod
    def get_file_hash(cls, filename: str) -> str:
        """The md5 hex digest of a local file, or ``""`` when it cannot be read (as Sedna)."""
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with open(filename, "rb") as fin:
                for chunk in iter(lambda: fin.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            return ""
        return digest.hexdigest()

    # -------------------------------------------------------------- internals
    @classmethod
    def _local_copy(cls, src: str, dst: str | None, action: str) -> str:
        if not os.path.exists(src):
            raise FileOpsError(f"{action} {src} failed: no such file or directory")
        if not dst:
            return src
        target = _target_path(dst, os.path.basename(src.rstrip("/")))
        if os.path.abspath(src) == os.path.abspath(target):
            return src
        try:
            if os.path.isdir(src):
                shutil.copytree(src, target, dirs_exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                shutil.copy2(src, target)
        except OSError as exc:
            raise FileOpsError(f"{action} {dst} from {src} failed: {exc}") from exc
        return target

    @staticmethod
    def _extract(path: str) -> str:
        base = path
        for ext in _ARCHIVES:
            if base.endswith(ext):
                base = base[: -len(ext)]
                break
        os.makedirs(base, exist_ok=True)
        root = Path(base).resolve()
        if path.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise FileOpsError(f"unpacking {path} failed: member {member!r} escapes the target")
                zf.extractall(base)
        else:
            with tarfile.open(path) as tf:
                tf.extractall(base, filter="data")
        return base
