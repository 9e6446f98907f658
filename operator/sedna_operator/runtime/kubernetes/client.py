"""A small asyncio client of the Kubernetes REST API (aiohttp), plus how to find credentials.

Why not the ``kubernetes`` package's API classes: they are synchronous (a thread per call) and
deserialise every response into typed models, which dominates the cost of a reconcile. We only
need a handful of JSON calls, so we speak REST directly with aiohttp (already a kopf
dependency) and use the ``kubernetes`` package only to *load* credentials (kubeconfig or the
in-cluster ServiceAccount), exactly as kubectl would find them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

__all__ = [
    "ApiError",
    "Credentials",
    "KubeClient",
    "MERGE_PATCH",
    "load_credentials",
    "is_transient",
]

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class ApiError(Exception):
    """A non-2xx answer of the API server (``status`` 0 means it could not be reached)."""

    def __init__(self, status: int, reason: str, body: Any = None, *, method: str = "", path: str = ""):
        self.status = status
        self.reason = reason
        self.body = body
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"{method} {path}: {status} {reason}" + (f": {message}" if message else ""))

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def is_transient(exc: BaseException) -> bool:
    """Whether retrying later may succeed: unreachable server, timeouts, 5xx and 429."""
    if isinstance(exc, ApiError):
        return exc.status == 0 or exc.status in _TRANSIENT_STATUSES
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError)


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to authenticate (what a kubeconfig context resolves to)."""

    server: str
    token: str | None = None
    ca_path: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    insecure: bool = False
    default_namespace: str | None = None
    # The kubernetes package's Configuration, kept to refresh rotating tokens (in-cluster, exec).
    source: Any = None

    def current_token(self) -> str | None:
        """The bearer token now (re-read when the source refreshes it, e.g. projected SA tokens)."""
        if self.source is not None:
            value = _api_key(self.source)
            if value:
                return value
        return self.token

    def ssl_context(self) -> ssl.SSLContext:
        ctx = (
            ssl.create_default_context(cafile=self.ca_path) if self.ca_path else ssl.create_default_context()
        )
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_path and self.key_path:
            ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def _api_key(cfg: Any) -> str | None:
    """The bearer token of a kubernetes Configuration (the key name changed across versions)."""
    for name in ("BearerToken", "authorization"):
        value = cfg.get_api_key_with_prefix(name)  # runs the refresh hook (in-cluster, exec)
        if value:
            # kubeconfig tokens come as "Bearer <t>", the in-cluster loader's as "bearer <t>".
            scheme, _, rest = str(value).strip().partition(" ")
            return rest.strip() if rest and scheme.lower() == "bearer" else str(value).strip()
    return None


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Credentials from ``kubeconfig`` (or $KUBECONFIG / ~/.kube/config), else in-cluster."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    cfg = k8s_client.Configuration()
    namespace: str | None = None
    try:
        k8s_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
        )
        try:
            _, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
            namespace = (active or {}).get("context", {}).get("namespace")
        except Exception:  # the namespace is a convenience only
            namespace = None
    except k8s_config.ConfigException:
        if kubeconfig:
            raise
        k8s_config.load_incluster_config(client_configuration=cfg)
    return Credentials(
        server=str(cfg.host).rstrip("/"),
        token=_api_key(cfg),
        ca_path=cfg.ssl_ca_cert or None,
        cert_path=cfg.cert_file or None,
        key_path=cfg.key_file or None,
        insecure=not cfg.verify_ssl,
        default_namespace=namespace,
        source=cfg,
    )


class KubeClient:
    """JSON calls to the API server. One aiohttp session per event loop, opened lazily."""

    def __init__(
        self, credentials: Credentials, *, timeout: float = 30.0, user_agent: str = "sedna-operator"
    ):
        self.credentials = credentials
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(10.0, timeout))
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(ssl=self.credentials.ssl_context(), limit=32)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            self._loop = loop
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request; return the decoded JSON body or raise :class:`ApiError`."""
        url = self.credentials.server + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        token = self.credentials.current_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        try:
            async with self._get_session().request(method, url, data=data, headers=headers) as resp:
                text = await resp.text()
                payload: Any = json.loads(text) if text else None
                if resp.status >= 400:
                    raise ApiError(resp.status, resp.reason or "", payload, method=method, path=path)
                return payload
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ApiError(0, f"unreachable: {exc!r}", method=method, path=path) from exc

    # Paths -------------------------------------------------------------------------------

    @staticmethod
    def core_path(namespace: str, plural: str, name: str | None = None, sub: str | None = None) -> str:
        path = f"/api/v1/namespaces/{quote(namespace)}/{plural}"
        return path + (f"/{quote(name)}" if name else "") + (f"/{sub}" if sub else "")

    @staticmethod
    def custom_path(
        group: str, version: str, namespace: str, plural: str, name: str | None = None, sub: str | None = None
    ) -> str:
        path = f"/apis/{group}/{version}/namespaces/{quote(namespace)}/{plural}"
        return path + (f"/{quote(name)}" if name else "") + (f"/{sub}" if sub else "")
