"""REST API on a real server (127.0.0.1, free port) driven by MarketClient and httpx."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import numpy as np
import pytest
import uvicorn

from sedna_market.client import MarketClient, MarketError
from sedna_market.service import create_app
from sedna_market.settings import MarketSettings
from sedna_market.spec.rkme import generate_rkme_table_spec

TOKEN = "s3cret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    settings = MarketSettings(db_url=f"sqlite:///{tmp_path / 'kb.db'}", storage_dir=tmp_path / "store",
                              api_token=TOKEN, max_upload_bytes=200_000, check_timeout_s=10)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", tmp_path
    srv.should_exit = True
    thread.join(timeout=10)


def test_submit_check_search_download_delete(server, make_package, semantic) -> None:
    url, _ = server
    with MarketClient(url, token=TOKEN) as client:
        sub = client.submit(make_package("good"), semantic())
        assert sub.check_state in ("pending", "done")
        info = client.wait_checked(sub.id)
        assert info.status_name == "USABLE" and info.feature_shape == [4]
        bad = client.submit(make_package("raise", seed=3), semantic(), wait=True)
        assert bad.status_name == "INVALID" and "boom" in bad.reason
        with pytest.raises(MarketError) as exc:
            client.download(bad.id)
        assert exc.value.status_code == 404
        user = generate_rkme_table_spec(np.random.default_rng(0).normal(size=(60, 4)), reduced_set_size=8)
        res = client.search(stat_spec=user)
        assert [s.id for s in res.single] == [sub.id]
        res = client.search(semantic_spec={"Name": {"Type": "String", "Values": "demo"}})
        assert [s.id for s in res.single] == [sub.id]
        assert client.download(sub.id) == make_package("good")
        assert {i.id for i in client.list()} == {sub.id, bad.id}
        assert client.delete(sub.id)
        with pytest.raises(MarketError):
            client.get(sub.id)
        assert client.health()["status"] == "ok"


@pytest.mark.parametrize(
    ("files", "form", "status", "message"),
    [
        ({"file": ("x.zip", b"not a zip", "application/zip")}, {"semantic_spec": "{}"}, 422, "not a valid zip"),
        ("nospec", None, 422, "stat_spec.json"),
        ("wrongdim", None, 422, "Input.Dimension"),
        ("big", None, 413, "larger than the limit"),
        ({"file": ("x.zip", b"", "application/zip")}, {"semantic_spec": "{bad json"}, 422, "not valid JSON"),
    ],
)
def test_bad_uploads_rejected_nothing_stored(server, make_package, semantic, files, form, status, message) -> None:
    url, tmp = server
    import json

    if files == "nospec":
        files = {"file": ("x.zip", make_package("good", include_spec=False), "application/zip")}
        form = {"semantic_spec": json.dumps(semantic().to_dict())}
    elif files == "wrongdim":
        files = {"file": ("x.zip", make_package("good"), "application/zip")}
        form = {"semantic_spec": json.dumps(semantic(dim=6).to_dict())}
    elif files == "big":
        files = {"file": ("x.zip", b"0" * 300_000, "application/zip")}
        form = {"semantic_spec": json.dumps(semantic().to_dict())}
    r = httpx.post(f"{url}/api/v1/learnwares", files=files, data=form, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    assert httpx.get(f"{url}/api/v1/learnwares").json() == []
    assert not list((tmp / "store" / "blobs").iterdir())


def test_writes_need_token(server, make_package, semantic) -> None:
    url, _ = server
    with MarketClient(url) as anon, pytest.raises(MarketError) as exc:
        anon.submit(make_package("good"), semantic())
    assert exc.value.status_code == 401
    assert httpx.delete(f"{url}/api/v1/learnwares/x", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_knowledgebase_compat_openapi_metrics(server) -> None:
    url, _ = server
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = httpx.post(f"{url}/knowledgebase/update", files={"task": ("task.pkl", b"index-bytes")}, headers=auth)
    assert r.status_code == 200 and r.json() == "/file/download?files=index.pkl&name=index.pkl"
    r = httpx.get(f"{url}/knowledgebase/file/download", params={"files": "index.pkl", "name": "index.pkl"})
    assert r.content == b"index-bytes"
    r = httpx.post(f"{url}/knowledgebase/update/status", json={"tasks": "a,b", "status": 1}, headers=auth)
    assert r.status_code == 200 and r.json().endswith("files=index.pkl&name=index.pkl")
    r = httpx.post(f"{url}/knowledgebase/file/upload", files={"file": ("model.bin", b"abc")}, headers=auth)
    assert r.json() == "/file/download?files=model.bin&name=model.bin"
    assert httpx.get(f"{url}/knowledgebase/file/download", params={"files": "../kb.db"}).status_code == 422
    schema = httpx.get(f"{url}/openapi.json").json()
    assert "/api/v1/search" in schema["paths"] and "/knowledgebase/update" in schema["paths"]
    metrics = httpx.get(f"{url}/metrics").text
    assert "market_http_requests_total" in metrics and "market_models" in metrics


def test_search_refuses_oversized_or_inconsistent_specs_before_working(server) -> None:
    """Issue 12 items 2 and 10: /api/v1/search needs no token, so a spec's size is bounded
    (O(points^2) memory otherwise) and nonsense parameters are a 422, not a 500."""
    from sedna_market.schemas import MAX_SPEC_POINTS

    url, _ = server
    n = MAX_SPEC_POINTS + 1
    cases = {
        "too many points": {"z": [[0.0]] * n, "beta": [1.0 / n] * n},
        "weights do not match points": {"z": [[0.0], [1.0]], "beta": [1.0]},
        "negative gamma": {"z": [[0.0]], "beta": [1.0], "gamma": -1.0},
        "negative num_points": {"z": [[0.0]], "beta": [1.0], "num_points": -5},
    }
    for what, spec in cases.items():
        r = httpx.post(f"{url}/api/v1/search", json={"stat_spec": spec}, timeout=10)
        assert r.status_code == 422, (what, r.status_code, r.text[:200])
    ok = httpx.post(f"{url}/api/v1/search", json={"stat_spec": {"z": [[0.0] * 4], "beta": [1.0]}}, timeout=10)
    assert ok.status_code == 200, ok.text


def test_writes_are_refused_before_the_upload_is_read(server) -> None:
    """Issue 12 item 6: FastAPI spools a multipart upload before the route's token check; the
    market answers 401 on the headers alone, without waiting for (or storing) the body."""
    url, tmp = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/learnwares HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 150000\r\n\r\n--b\r\n")
        reply = b""
        while b"bearer token" not in reply:
            chunk = sock.recv(4096)  # times out (the test fails) if the server waits for the body
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 401") and b"missing or wrong bearer token" in reply
    wrong = httpx.delete(f"{url}/api/v1/learnwares/x", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401
    # reads stay public
    assert httpx.post(f"{url}/api/v1/search", json={"semantic_spec": None}, timeout=5).status_code == 200
