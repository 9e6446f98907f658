"""``POST /sedna/workers/{name}/info`` against the ASGI app: accepted bodies and every rejection."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sedna_operator.controllers.plan import WorkerReport
from sedna_operator.lc import (
    LCSettings,
    MemoryReportSink,
    OwnerKey,
    SQLiteSink,
    create_app,
    report_from_wire,
    report_to_wire,
)

from .conftest import SECRET, auth_header, sedna_body

pytestmark = pytest.mark.anyio

OWNER = OwnerKey(namespace="default", kind="IncrementalLearningJob", name="helmet-detection-demo")


def settings(**kw: Any) -> LCSettings:
    return LCSettings.for_local(secret=SECRET, **kw)


def client(sink: Any, **kw: Any) -> httpx.AsyncClient:
    app = create_app(settings(**kw), sink)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lc")


def url(body: dict[str, Any]) -> str:
    return f"/sedna/workers/{body['name']}/info"


async def test_sedna_body_accepted() -> None:
    sink = MemoryReportSink()
    body = sedna_body()
    async with client(sink) as c:
        r = await c.post(url(body), json=body, headers=auth_header(body))
    assert r.status_code == 200
    assert r.json() == {"Status": 200, "Message": "OK"}
    report = sink.reports(OWNER)["helmet-train-abcde"]
    assert (report.kind, report.status, report.sequence) == ("train", "completed", 1)
    assert report.results == body["results"]
    assert report.owner_info == {"round": 1}
    assert len(sink) == 1


async def test_capitalised_keys_and_camelcase_kind_accepted() -> None:
    sink = MemoryReportSink()
    body = sedna_body()
    capitalised = {k[0].upper() + k[1:]: v for k, v in body.items()}
    capitalised["OwnerKind"] = "IncrementalLearningJob"
    capitalised["Status"] = "Completed"
    async with client(sink) as c:
        r = await c.post(url(body), json=capitalised, headers=auth_header(body))
    assert r.status_code == 200, r.text
    assert sink.reports(OWNER)["helmet-train-abcde"].status == "completed"


async def test_minimal_body_without_results_and_owner_info() -> None:
    sink = MemoryReportSink()
    body = sedna_body(
        kind="inference", status="running", ownerKind="jointinferenceservice", ownerName="sedna"
    )
    del body["results"], body["ownerInfo"]
    async with client(sink) as c:
        r = await c.post(url(body), json=body, headers=auth_header(body))
    assert r.status_code == 200, r.text
    report = sink.reports(OwnerKey(namespace="default", kind="JointInferenceService", name="sedna"))
    assert report["helmet-train-abcde"].results == []


async def test_auth_can_be_turned_off() -> None:
    sink = MemoryReportSink()
    body = sedna_body()
    app = create_app(LCSettings.for_local(), sink)  # no secret: auth off
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lc") as c:
        r = await c.post(url(body), json=body)
    assert r.status_code == 200
    assert len(sink) == 1


def test_auth_required_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="no secret"):
        LCSettings(auth_required=True)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 4096):
        yield data[i : i + 4096]


BAD_CASES: list[tuple[str, int, str]] = [
    ("malformed_json", 400, "not valid JSON"),
    ("json_array", 400, "must be a JSON object"),
    ("oversized", 413, "exceeds the limit"),
    ("oversized_chunked", 413, "exceeds the limit"),
    ("missing_token", 401, "missing report token"),
    ("wrong_token", 403, "not valid for job"),
    ("other_jobs_token", 403, "not valid for job"),
    ("basic_auth", 401, "missing report token"),
    ("name_mismatch", 400, "differs from the path"),
    ("unknown_owner_kind", 422, "unknown ownerKind 'default'"),
    ("unknown_kind", 422, "kind"),
    ("unknown_status", 422, "status"),
    ("unknown_field", 422, "unknown field 'extra'"),
    ("duplicate_field", 422, "given twice"),
    ("results_not_list", 422, "results"),
    ("bad_namespace", 422, "namespace"),
    ("bad_sequence_header", 400, "must be an integer"),
    ("underscored_sequence_header", 400, "must be an integer"),  # int() reads "1_0" as 10; Go does not
    ("sequence_conflict", 400, "differs from body sequence"),
    # hostile inputs (issue 12, item 10): a 400 with the reason, never a 500 or a poisoned store
    ("nested_too_deep", 400, "nests deeper than 32 levels"),
    ("recursion_deep", 400, "nests deeper than 32 levels"),
    ("nan_literal", 400, "NaN is not a JSON number"),
    ("infinity_literal", 400, "Infinity is not a JSON number"),
    ("huge_sequence", 422, "sequence"),
    ("huge_sequence_header", 400, "must be between 1 and"),
]


@pytest.mark.parametrize(("case", "code", "reason"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
async def test_rejected_and_sink_unchanged(case: str, code: int, reason: str) -> None:
    sink = MemoryReportSink()
    body = sedna_body()
    headers = auth_header(body)
    content: bytes | AsyncIterator[bytes] = b""
    path = url(body)
    if case == "malformed_json":
        content = b'{"name": "helmet-train-abcde", '
    elif case == "json_array":
        content = json.dumps([body]).encode()
    elif case == "oversized":
        content = json.dumps(sedna_body(ownerInfo={"blob": "x" * 5000})).encode()
    elif case == "oversized_chunked":
        content = _chunks(json.dumps(sedna_body(ownerInfo={"blob": "x" * 50_000})).encode())
    elif case == "missing_token":
        headers = {}
    elif case == "wrong_token":
        headers = {"Authorization": "Bearer " + "0" * 64}
    elif case == "other_jobs_token":
        headers = auth_header(sedna_body(ownerName="another-job"))
    elif case == "basic_auth":
        headers = {"Authorization": "Basic dXNlcjpwYXNz"}
    elif case == "name_mismatch":
        path = "/sedna/workers/someone-else/info"
    elif case == "unknown_owner_kind":
        body = sedna_body(ownerKind="default")  # what Sedna's FL SDK sends
    elif case == "unknown_kind":
        body = sedna_body(kind="predict")
    elif case == "unknown_status":
        body = sedna_body(status="done")
    elif case == "unknown_field":
        body = sedna_body(extra=1)
    elif case == "duplicate_field":
        body = sedna_body(Status="running")
    elif case == "results_not_list":
        body = sedna_body(results={"format": "pb"})
    elif case == "bad_namespace":
        body = sedna_body(namespace="Bad_NS")
        headers = auth_header(body)
    elif case == "bad_sequence_header":
        headers = {**headers, "X-Sedna-Report-Seq": "abc"}
    elif case == "underscored_sequence_header":
        headers = {**headers, "X-Sedna-Report-Seq": "1_0"}
    elif case == "sequence_conflict":
        body = sedna_body(sequence=3)
        headers = {**headers, "X-Sedna-Report-Seq": "4"}
    elif case == "nested_too_deep":
        deep: Any = 1
        for _ in range(40):
            deep = [deep]
        body = sedna_body(ownerInfo={"deep": deep})
    elif case == "recursion_deep":  # past Python's recursion limit: json.loads itself gives up
        content = json.dumps(sedna_body()).replace('"ownerInfo": {"round": 1}', '"ownerInfo": {"a": ' + "[" * 1800 + "]" * 1800 + "}").encode()
    elif case == "nan_literal":
        content = json.dumps(sedna_body(ownerInfo={"loss": float("nan")})).encode()
    elif case == "infinity_literal":
        content = json.dumps(sedna_body(ownerInfo={"loss": float("inf")})).encode()
    elif case == "huge_sequence":
        body = sedna_body(sequence=2**63)
    elif case == "huge_sequence_header":
        headers = {**headers, "X-Sedna-Report-Seq": str(2**63)}
    if not content:
        content = json.dumps(body).encode()
    async with client(sink, max_body_bytes=4096) as c:
        r = await c.post(path, content=content, headers={"Content-Type": "application/json", **headers})
        metrics = (await c.get("/metrics")).text
    assert r.status_code == code, r.text
    assert r.json()["Status"] == code
    assert reason in r.json()["Message"]
    assert len(sink) == 0 and sink.reports(OWNER) == {}
    assert "sedna_lc_reports_accepted_total{" not in metrics
    assert re.search(r'sedna_lc_reports_rejected_total\{reason="\w+"\} 1\.0', metrics)


async def test_replayed_sequence_rejected() -> None:
    sink = MemoryReportSink()
    body = sedna_body()
    async with client(sink) as c:
        ok = await c.post(url(body), json=sedna_body(sequence=5), headers=auth_header(body))
        same = await c.post(
            url(body), json=sedna_body(sequence=5, status="failed"), headers=auth_header(body)
        )
        older = await c.post(url(body), json=body, headers={**auth_header(body), "X-Sedna-Report-Seq": "3"})
        newer = await c.post(url(body), json=body, headers={**auth_header(body), "X-Sedna-Report-Seq": "6"})
        metrics = (await c.get("/metrics")).text
    assert ok.status_code == 200 and newer.status_code == 200
    assert same.status_code == 409 and older.status_code == 409
    assert same.json() == {
        "Status": 409,
        "Message": "replayed report: sequence 5 is not greater than 5, the last accepted",
    }
    assert [rep.sequence for _, rep in sink.log] == [5, 6]
    assert sink.reports(OWNER)["helmet-train-abcde"].status == "completed"
    assert 'sedna_lc_reports_rejected_total{reason="replayed"} 2.0' in metrics
    assert 'sedna_lc_reports_accepted_total{owner_kind="IncrementalLearningJob"} 2.0' in metrics


async def test_unnumbered_reports_get_increasing_sequences_per_worker() -> None:
    sink = MemoryReportSink()
    body = sedna_body()
    other = sedna_body(name="helmet-eval-xyz12", kind="eval")
    async with client(sink) as c:
        for b in (body, body, other, body):
            assert (await c.post(url(b), json=b, headers=auth_header(b))).status_code == 200
    assert [(r.worker, r.sequence) for _, r in sink.log] == [
        ("helmet-train-abcde", 1),
        ("helmet-train-abcde", 2),
        ("helmet-eval-xyz12", 1),
        ("helmet-train-abcde", 3),
    ]


class FailingSink(MemoryReportSink):
    def __init__(self) -> None:
        super().__init__()
        self.fail = True

    async def record(self, owner: OwnerKey, report: WorkerReport) -> None:
        if self.fail:
            raise OSError("disk full")
        await super().record(owner, report)


async def test_sink_failure_is_503_and_can_be_retried() -> None:
    sink = FailingSink()
    body = sedna_body(sequence=1)
    async with client(sink) as c:
        r = await c.post(url(body), json=body, headers=auth_header(body))
        assert r.status_code == 503
        assert "disk full" in r.json()["Message"]
        sink.fail = False
        r = await c.post(url(body), json=body, headers=auth_header(body))  # the same sequence again
    assert r.status_code == 200
    assert len(sink) == 1


async def test_replay_guard_survives_restart_with_sqlite(tmp_path: Path) -> None:
    body = sedna_body()
    sink = SQLiteSink(tmp_path / "lc.db")
    async with client(sink) as c:
        assert (
            await c.post(url(body), json=sedna_body(sequence=7), headers=auth_header(body))
        ).status_code == 200
    sink.close()
    sink = SQLiteSink(tmp_path / "lc.db")  # a fresh LC on the same state
    async with client(sink) as c:
        replay = await c.post(url(body), json=sedna_body(sequence=7), headers=auth_header(body))
        fresh = await c.post(url(body), json=body, headers=auth_header(body))
    assert replay.status_code == 409
    assert fresh.status_code == 200
    assert [r.sequence for r in sink.report_log()] == [7, 8]
    sink.close()


async def test_healthz_and_metrics() -> None:
    async with client(MemoryReportSink(), node_name="edge-1") as c:
        health = await c.get("/healthz")
        metrics = await c.get("/metrics")
    assert health.json() == {"status": "ok", "node": "edge-1"}
    assert "sedna_lc_report_seconds_bucket" in metrics.text
    assert "sedna_lc_datasets_watched 0.0" in metrics.text


def test_wire_round_trip() -> None:
    from datetime import UTC, datetime

    report = WorkerReport(
        worker="w", kind="eval", status="completed", owner_info={"a": 1}, results=[{"url": "u"}],
        received_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), sequence=4,
    )  # fmt: skip
    wire = report_to_wire(report)
    assert wire["receivedAt"] == "2024-01-02T03:04:05+00:00" and wire["ownerInfo"] == {"a": 1}
    assert report_from_wire("w", json.loads(json.dumps(wire))) == report
