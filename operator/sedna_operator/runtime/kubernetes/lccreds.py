"""The S3 credentials the LC DaemonSet needs: the Secret named by a Dataset's or a job's
``credentialName``, read with one ``get`` (the LC's ClusterRole grants ``get`` on secrets, never
``list``/``watch``), at most once per pass per Secret (:class:`CredentialCache`)."""

from __future__ import annotations

import logging

from ...lc.objstore import CredentialError, S3Credentials, credentials_from_secret
from .client import ApiError, KubeClient

__all__ = ["CredentialCache", "Resolved"]

log = logging.getLogger("sedna.lc")

Resolved = tuple[S3Credentials | None, str | None]
"""(credentials, None), or (None, why there are none)."""


class CredentialCache:
    """Secrets read during one pass (a new cache per pass: a rotated key is picked up)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._got: dict[tuple[str, str], Resolved] = {}

    async def get(self, namespace: str, name: str | None) -> Resolved:
        if not name:
            return None, None
        key = (namespace, name)
        if key not in self._got:
            self._got[key] = await self._read(namespace, name)
        return self._got[key]

    async def _read(self, namespace: str, name: str) -> Resolved:
        try:
            body = await self.client.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except ApiError as exc:
            if exc.not_found:
                body = None
            elif exc.status == 403:
                return None, (
                    f"the LC may not read credential Secret {namespace}/{name}: its ClusterRole needs"
                    " get on secrets (the chart grants it; see docs/install.md)"
                )
            else:
                log.warning("reading credential Secret %s/%s failed: %s", namespace, name, exc.status)
                return None, f"credential Secret {namespace}/{name} could not be read (API {exc.status})"
        try:
            return credentials_from_secret(body, namespace, name), None
        except CredentialError as exc:
            return None, str(exc)
