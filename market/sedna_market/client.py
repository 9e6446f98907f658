"""Python client of the market REST API (httpx)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from .schemas import LearnwareInfo, SearchQuery, SearchResponse, SubmitResponse
from .spec.rkme import RKMETableSpec
from .spec.semantic import SemanticSpec


class MarketError(RuntimeError):
    """A request failed; ``status_code`` and the server's ``detail`` are kept."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class MarketClient:
    """Talks to ``sedna_market.service``; ``token`` is sent as a bearer token on every call."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MarketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, resp: httpx.Response) -> httpx.Response:
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail")
            except (ValueError, AttributeError):
                detail = resp.text
            raise MarketError(resp.status_code, detail)
        return resp

    def health(self) -> dict[str, Any]:
        return self._check(self._http.get("/healthz")).json()

    def submit(self, package: bytes | str | Path, semantic_spec: SemanticSpec | dict[str, Any] | None = None,
               wait: bool = False) -> SubmitResponse:
        """Upload a package zip (bytes or path) with its semantic spec."""
        data = Path(package).read_bytes() if isinstance(package, str | Path) else package
        form = {}
        if semantic_spec is not None:
            sem = semantic_spec.to_dict() if isinstance(semantic_spec, SemanticSpec) else semantic_spec
            form["semantic_spec"] = json.dumps(sem)
        resp = self._http.post("/api/v1/learnwares", params={"wait": wait},
                               files={"file": ("learnware.zip", data, "application/zip")}, data=form)
        return SubmitResponse.model_validate(self._check(resp).json())

    def get(self, mid: str) -> LearnwareInfo:
        return LearnwareInfo.model_validate(self._check(self._http.get(f"/api/v1/learnwares/{mid}")).json())

    def wait_checked(self, mid: str, timeout: float = 60.0, poll: float = 0.2) -> LearnwareInfo:
        """Poll until the model's check has finished."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(mid)
            if info.check_state != "pending" or time.monotonic() > deadline:
                return info
            time.sleep(poll)

    def list(self) -> list[LearnwareInfo]:
        return [LearnwareInfo.model_validate(x) for x in self._check(self._http.get("/api/v1/learnwares")).json()]

    def download(self, mid: str) -> bytes:
        return self._check(self._http.get(f"/api/v1/learnwares/{mid}/download")).content

    def delete(self, mid: str) -> bool:
        return bool(self._check(self._http.delete(f"/api/v1/learnwares/{mid}")).json()["deleted"])

    def search(self, semantic_spec: SemanticSpec | dict[str, Any] | None = None,
               stat_spec: RKMETableSpec | None = None, **options: Any) -> SearchResponse:
        """Search by semantic and/or RKME spec; options are :class:`SearchQuery` fields."""
        sem = semantic_spec.to_dict() if isinstance(semantic_spec, SemanticSpec) else semantic_spec
        query = SearchQuery(semantic_spec=sem, stat_spec=stat_spec.to_dict() if stat_spec else None, **options)
        resp = self._http.post("/api/v1/search", json=query.model_dump(exclude_none=True))
        return SearchResponse.model_validate(self._check(resp).json())
