"""Every limit of docs/limits.md that is cheap to reach: an input just over it is refused with
the documented status, and the process that refused it stayed within a memory bound.

The services run in a child process (``memserver.py``) that reports its RSS; the bound is on
``peak RSS after the request - RSS before it``: :data:`GROWTH_MB` for inputs refused before they
are read or parsed, and the limit itself plus :data:`GROWTH_MB` where the documented design is
to read up to the limit first (a chunked body without ``Content-Length``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sedna_market.schemas import MAX_SPEC_POINTS
from sedna_operator.lc.app import MAX_JSON_DEPTH
from sedna_operator.lc.settings import DEFAULT_MAX_BODY_BYTES

from .market_support import AUTH, make_zip, package_files

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
#: a request refused at a limit may cost at most this much memory (a limit, not a speed)
GROWTH_MB = 200
MARKET_UPLOAD = 64 * MB
INFERENCE_BUFFER = 100 * MB

pytestmark = pytest.mark.timeout(300)


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int) -> None:
        self.proc, self.url = proc, f"http://127.0.0.1:{port}"

    def rss_kb(self) -> tuple[int, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        now, peak = self.proc.stdout.readline().split()
        return int(now), int(peak)

    def cost_mb(self, send) -> tuple[httpx.Response, float]:  # type: ignore[no-untyped-def]
        before, _ = self.rss_kb()
        with httpx.Client(base_url=self.url, timeout=120) as client:
            response = send(client)
        _, peak = self.rss_kb()
        return response, (peak - before) / 1024


@contextmanager
def served(which: str, tmp: Path) -> Iterator[Served]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.adversarial.memserver", which, str(tmp)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY"), line
        srv = Served(proc, int(line.split()[1]))
        with httpx.Client(base_url=srv.url) as c:  # warm up the request path
            c.get("/healthz" if which != "inference" else "/mem")
        yield srv
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def chunks(total: int, size: int = MB, fill: bytes = b" ") -> Iterator[bytes]:
    """``total`` bytes as a chunked body (no Content-Length), never held at once here."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield fill * n


def report_body(pad: int) -> bytes:
    body = {"name": "w", "namespace": "default", "ownerName": "j", "ownerKind": "incrementallearningjob",
            "kind": "train", "status": "completed", "ownerInfo": {"pad": "x" * pad}}
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served("lc", tmp_path_factory.mktemp("lc")) as srv:
        yield srv


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served("market", tmp_path_factory.mktemp("market")) as srv:
        yield srv


@pytest.fixture(scope="module")
def inference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served("inference", tmp_path_factory.mktemp("inference")) as srv:
        yield srv


URL = "/sedna/workers/w/info"
JSON = {"content-type": "application/json"}


def test_lc_body_one_byte_over_declared(lc: Served) -> None:
    body = report_body(0)
    body = body[:-1] + b" " * (DEFAULT_MAX_BODY_BYTES + 1 - len(body)) + body[-1:]
    assert len(body) == DEFAULT_MAX_BODY_BYTES + 1
    r, cost = lc.cost_mb(lambda c: c.post(URL, content=body, headers=JSON))
    assert r.status_code == 413 and r.json()["Status"] == 413, r.text
    assert cost < GROWTH_MB, cost


def test_lc_body_over_the_limit_chunked(lc: Served) -> None:
    # 64 MiB offered without Content-Length: refused once 1 MiB has been counted
    r, cost = lc.cost_mb(lambda c: c.post(URL, content=chunks(64 * MB), headers=JSON))
    assert r.status_code == 413, r.text
    assert cost < GROWTH_MB, cost


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, DEFAULT_MAX_BODY_BYTES // 2 - 1])
def test_lc_json_nesting(lc: Served, depth: int) -> None:
    body = b"[" * depth + b"]" * depth  # the largest one fills the body limit
    r, cost = lc.cost_mb(lambda c: c.post(URL, content=body, headers=JSON))
    assert r.status_code == 400 and "deeper than" in r.json()["Message"], r.text
    assert cost < GROWTH_MB, cost


def test_lc_sequence_header_over_the_limit(lc: Served) -> None:
    body = report_body(0)
    r, cost = lc.cost_mb(lambda c: c.post(URL, content=body, headers={**JSON, "X-Sedna-Report-Seq": str(2**63)}))
    assert r.status_code in (400, 401), r.text  # 401 first when unsigned: the header check comes after the token
    assert cost < GROWTH_MB, cost


def test_market_upload_over_the_limit_declared(market: Served) -> None:
    zipped = make_zip({**package_files(), "pad.bin": b"\0" * (MARKET_UPLOAD + 1)})  # ZIP_STORED: as large as its data
    assert len(zipped) > MARKET_UPLOAD
    r, cost = market.cost_mb(
        lambda c: c.post("/api/v1/learnwares", files={"file": ("lw.zip", zipped, "application/zip")}, headers=AUTH)
    )
    assert r.status_code == 413, r.text
    assert cost < GROWTH_MB, cost


def test_market_upload_over_the_limit_chunked(market: Served) -> None:
    boundary = "advboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"lw.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from chunks(MARKET_UPLOAD + MB, fill=b"z")
        yield tail

    headers = {**AUTH, "content-type": f"multipart/form-data; boundary={boundary}"}
    r, cost = market.cost_mb(lambda c: c.post("/api/v1/learnwares", content=body(), headers=headers))
    assert r.status_code == 413, r.text
    assert cost < MARKET_UPLOAD / MB + GROWTH_MB, cost


def test_market_spec_points_over_the_limit(market: Served) -> None:
    points = MAX_SPEC_POINTS + 1
    query = {"stat_spec": {"z": [[0.5] * 100] * points, "beta": [1 / points] * points, "gamma": 0.1}}
    r, cost = market.cost_mb(lambda c: c.post("/api/v1/search", json=query))
    assert r.status_code == 422, r.text
    assert cost < GROWTH_MB, cost


def test_inference_body_over_the_limit_declared(inference: Served) -> None:
    r, cost = inference.cost_mb(
        lambda c: c.post("/mem/predict", content=b" " * (INFERENCE_BUFFER + 1), headers=JSON)
    )
    assert r.status_code == 413, r.text
    assert cost < GROWTH_MB, cost


def test_inference_body_over_the_limit_chunked(inference: Served) -> None:
    r, cost = inference.cost_mb(lambda c: c.post("/mem/predict", content=chunks(INFERENCE_BUFFER + MB), headers=JSON))
    assert r.status_code == 413, r.text
    assert cost < INFERENCE_BUFFER / MB + GROWTH_MB, cost


def _retained_mb(srv: Served, url: str, total: int, times: int) -> tuple[list[int], float]:
    """RSS kept after ``times`` refused chunked bodies of ``total`` bytes (and a full GC)."""
    before, _ = srv.rss_kb()
    codes = []
    with httpx.Client(base_url=srv.url, timeout=120) as client:
        for _ in range(times):
            codes.append(client.post(url, content=chunks(total), headers=JSON).status_code)
    assert srv.proc.stdin is not None and srv.proc.stdout is not None
    srv.proc.stdin.write("gc\n")
    srv.proc.stdin.flush()
    after = int(srv.proc.stdout.readline().split()[0])
    return codes, (after - before) / 1024


def test_lc_refused_bodies_are_not_retained(lc: Served) -> None:
    codes, kept = _retained_mb(lc, URL, 16 * MB, 5)
    assert codes == [413] * 5
    assert kept < GROWTH_MB, kept


def test_inference_refused_bodies_are_not_retained(inference: Served) -> None:
    codes, kept = _retained_mb(inference, "/mem/predict", INFERENCE_BUFFER + MB, 6)
    assert codes == [413] * 6
    assert kept < INFERENCE_BUFFER / MB + GROWTH_MB, kept


YAML_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import psutil
    from sedna_operator.manifests import load_files
    from tests.adversarial.memserver import peak_kb, reset_peak
    reset_peak()
    before = psutil.Process().memory_info().rss // 1024
    result = load_files([Path(sys.argv[1])])
    print(json.dumps({"errors": result.errors, "resources": len(result.resources), "cost_mb": (peak_kb() - before) / 1024}))
    """
)


@pytest.mark.parametrize(
    "shape",
    [
        "alias bomb",
        pytest.param("plain", marks=pytest.mark.slow),  # a few seconds: every node up to the limit is composed
    ],
)
def test_yaml_nodes_just_over_the_limit(tmp_path: Path, shape: str) -> None:
    from sedna_operator.api.yamlio import MAX_YAML_NODES

    path = tmp_path / "big.yaml"
    if shape == "alias bomb":
        # 10 levels of 4 aliases each, the top one repeated: over 1,000,000 nodes expanded
        lines = ["l0: &l0 [x, x, x, x]"]
        for i in range(1, 10):
            lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 4)}]")
        lines.append("top: [*l9]")
        path.write_text("data:\n" + "\n".join("  " + line for line in lines) + "\n")
    else:
        # a flat list one item over the limit: no alias, every node written out (~4 MB)
        path.write_text("data:\n" + "- 1\n" * MAX_YAML_NODES)
    done = subprocess.run([sys.executable, "-c", YAML_PROBE, str(path)], capture_output=True, text=True, timeout=240, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["resources"] == 0 and len(out["errors"]) == 1, out
    assert f"more than {MAX_YAML_NODES:,} nodes, aliases counted expanded" in out["errors"][0], out
    assert out["cost_mb"] < GROWTH_MB, out
