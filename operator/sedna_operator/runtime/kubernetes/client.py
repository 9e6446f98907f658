"""The Kubernetes API client of the operator and the LC: ``kubernetes_asyncio`` underneath.

:class:`KubeClient` sends every call through ``kubernetes_asyncio``'s ``ApiClient`` (the
maintained asyncio flavour of the official client: its configuration, TLS, auth headers,
connection pool and request pipeline), and :attr:`KubeClient.api` gives its typed API classes
(``CoreV1Api(client.api)`` ...) to code that wants them. :meth:`KubeClient.request` asks it for
the raw JSON instead of typed models (``_preload_content=False``), because the callers'
observation builders are pure functions over API dicts (shared with the local runtime) and the
typed models cost 3x a call: listing 100 pods took 147-154 ms typed against 45-53 ms raw through
the same client, 2 pods 2.9-6.5 ms against 1.3-1.8 ms (``bench`` notes in docs/operator.md).
Watches are kopf's (the operator) or polls (the LC), so the client's ``Watch`` is not needed.

Credentials are found as kubectl finds them (kubeconfig or the in-cluster ServiceAccount),
with the ``kubernetes`` package's synchronous loader, which callers use before any event loop
runs; rotating tokens (projected ServiceAccount tokens, exec plugins) are re-read per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio import client as k8s

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
    """JSON calls to the API server through ``kubernetes_asyncio``. One ``ApiClient`` (and its
    aiohttp pool) per event loop, opened lazily: tests run operators on several loops."""

    def __init__(
        self, credentials: Credentials, *, timeout: float = 30.0, user_agent: str = "sedna-operator"
    ):
        self.credentials = credentials
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(10.0, timeout))
        self._user_agent = user_agent
        self._api: k8s.ApiClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Requests sent, by method (the latency bench reports them per resource).
        self.calls: Counter[str] = Counter()

    def _configuration(self) -> k8s.Configuration:
        creds = self.credentials
        cfg = k8s.Configuration(host=creds.server)
        cfg.ssl_ca_cert = creds.ca_path
        cfg.cert_file = creds.cert_path
        cfg.key_file = creds.key_path
        cfg.verify_ssl = not creds.insecure
        cfg.connection_pool_maxsize = 32
        if creds.current_token():
            cfg.api_key_prefix = {"BearerToken": "Bearer"}
            # Called by the client before each request: a rotated token is picked up.
            cfg.refresh_api_key_hook = lambda c: c.api_key.update(BearerToken=creds.current_token() or "")
            cfg.api_key = {"BearerToken": creds.current_token() or ""}
        return cfg

    @property
    def api(self) -> k8s.ApiClient:
        """The ``kubernetes_asyncio`` client of the running loop (for its typed API classes)."""
        loop = asyncio.get_running_loop()
        if self._api is None or self._loop is not loop:
            self._api = k8s.ApiClient(self._configuration())
            self._api.user_agent = self._user_agent
            self._loop = loop
        return self._api

    async def close(self) -> None:
        if self._api is not None:
            with contextlib.suppress(Exception):  # its loop may be gone (a killed operator)
                await self._api.close()
        self._api = None

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
        self.calls[method] += 1
        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            resp = await self.api.call_api(
                path,
                method,
                query_params=list(params.items()) if params else None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            async with resp:
                text = await resp.text()
                payload: Any = json.loads(text) if text else None
                if resp.status >= 400:
                    raise ApiError(resp.status, resp.reason or "", payload, method=method, path=path)
                return payload
        except k8s.ApiException as exc:  # raised by the client before sending (bad arguments)
            raise ApiError(exc.status or 0, str(exc.reason), method=method, path=path) from exc
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
