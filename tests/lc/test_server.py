"""A real uvicorn LC on 127.0.0.1 (free port), driven by a real HTTP client, then stopped."""

from __future__ import annotations

import httpx
import pytest

from sedna_operator.lc import LCServer, LCSettings, MemoryReportSink, OwnerKey

from .conftest import SECRET, auth_header, sedna_body


def test_real_server_accepts_rejects_and_stops() -> None:
    sink = MemoryReportSink()
    body = sedna_body()
    with LCServer(LCSettings.for_local(secret=SECRET), sink) as lc:
        assert lc.port > 0 and lc.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=lc.url, timeout=5) as c:
            ok = c.post(f"/sedna/workers/{body['name']}/info", json=body, headers=auth_header(body))
            denied = c.post(f"/sedna/workers/{body['name']}/info", json=body)
            health = c.get("/healthz")
        url = lc.url
    assert ok.json() == {"Status": 200, "Message": "OK"}
    assert denied.status_code == 401
    assert health.status_code == 200
    assert len(sink) == 1
    assert "helmet-train-abcde" in sink.reports(
        OwnerKey(namespace="default", kind="IncrementalLearningJob", name="helmet-detection-demo")
    )
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=1)
