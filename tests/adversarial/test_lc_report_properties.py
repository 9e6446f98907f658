"""Property tests of the LC's report parsing (``lc/models.py``, ``lc/app.py``).

Properties: any body bytes are accepted or refused with 400/422 (never another exception);
every valid report round-trips through the stored wire form; key spelling follows Go's
case-insensitive decoder; a wrong field is a 422 that names it; nesting up to
``MAX_JSON_DEPTH`` is fine and one level more is a 400; over HTTP, nothing is ever a 5xx.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sedna_operator.lc import (
    LCSettings,
    MemoryReportSink,
    create_app,
    report_from_wire,
    report_to_wire,
    report_token,
)
from sedna_operator.lc.app import MAX_JSON_DEPTH, Rejected, _parse
from sedna_operator.lc.models import MAX_SEQUENCE, OWNER_KINDS, WORKER_KINDS, WORKER_STATUSES

SECRET = "adversarial-lc-secret"

label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
subdomain = st.lists(label, min_size=1, max_size=3).map(".".join).filter(lambda s: len(s) <= 253)
json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)


def _case(draw: st.DrawFn, word: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in word)


@st.composite
def valid_bodies(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(OWNER_KINDS) + sorted(OWNER_KINDS.values())))
    body: dict[str, Any] = {
        "name": draw(subdomain),
        "namespace": draw(label),
        "ownerName": draw(subdomain),
        "ownerKind": kind,
        "kind": _case(draw, draw(st.sampled_from(WORKER_KINDS))),
        "status": _case(draw, draw(st.sampled_from(WORKER_STATUSES))),
        "ownerInfo": draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
        "results": draw(st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=3), max_size=3)),
    }
    if draw(st.booleans()):
        body["sequence"] = draw(st.integers(1, MAX_SEQUENCE))
    return body


@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_parses_or_is_refused_with_400_or_422(raw: bytes) -> None:
    try:
        info = _parse(raw)
    except Rejected as exc:
        assert exc.code in (400, 422), exc.message
        assert exc.message
        return
    assert info.kind in WORKER_KINDS and info.status in WORKER_STATUSES


@given(valid_bodies())
@settings(max_examples=80)
def test_valid_reports_round_trip(body: dict[str, Any]) -> None:
    info = _parse(json.dumps(body).encode())
    assert info.name == body["name"] and info.owner_name == body["ownerName"]
    assert info.kind == body["kind"].lower() and info.status == body["status"].lower()
    assert info.owner_kind == OWNER_KINDS.get(body["ownerKind"], body["ownerKind"])
    report = info.to_report(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), body.get("sequence", 1))
    wire = report_to_wire(report)
    assert report_from_wire(info.name, json.loads(json.dumps(wire))) == report


@given(valid_bodies(), st.data())
@settings(max_examples=40)
def test_keys_are_matched_case_insensitively_and_once(body: dict[str, Any], data: st.DataObject) -> None:
    spelled = {_case(data.draw, k): v for k, v in body.items()}
    assert _parse(json.dumps(spelled).encode()).model_dump() == _parse(json.dumps(body).encode()).model_dump()
    key = data.draw(st.sampled_from(sorted(body)))
    twice = dict(body)
    twice[key.upper() if key.upper() != key else key.lower()] = body[key]
    with pytest.raises(Rejected) as exc:
        _parse(json.dumps(twice).encode())
    assert exc.value.code == 422 and key in exc.value.message


@given(
    valid_bodies(),
    st.sampled_from(["name", "namespace", "ownerName", "ownerKind", "kind", "status", "results", "sequence", "ownerInfo"]),
    json_values,
)
@settings(max_examples=150)
def test_a_wrong_field_is_a_422_naming_it(body: dict[str, Any], field: str, value: Any) -> None:
    body[field] = value
    try:
        _parse(json.dumps(body).encode())
    except Rejected as exc:
        assert exc.code == 422, exc.message
        assert field in exc.message, exc.message
        return
    # accepted: then the value really was a valid one for that field
    WorkerInfoLike = _parse(json.dumps(body).encode())
    assert WorkerInfoLike is not None


@given(valid_bodies(), st.integers(1, MAX_JSON_DEPTH + 8))
@settings(max_examples=40)
def test_nesting_limit(body: dict[str, Any], depth: int) -> None:
    # the body object is level 1, ownerInfo level 2; nest lists below it up to ``depth``
    inner: Any = 0
    for _ in range(max(depth - 2, 0)):
        inner = [inner]
    body["ownerInfo"] = {"x": inner} if depth >= 2 else {}
    raw = json.dumps(body).encode()
    if depth <= MAX_JSON_DEPTH:
        assert _parse(raw).owner_info == body["ownerInfo"]
    else:
        with pytest.raises(Rejected) as exc:
            _parse(raw)
        assert exc.value.code == 400 and "deeper than" in exc.value.message


@pytest.fixture(scope="module")
def lc() -> Any:
    return create_app(LCSettings.for_local(secret=SECRET), MemoryReportSink())


def _post(app: Any, url: str, content: str, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lc") as c:
            return await c.post(url, content=content, headers=headers)

    return asyncio.run(go())


@given(
    body=valid_bodies() | json_values,
    path_name=st.none() | st.text(min_size=1, max_size=20),
    header_seq=st.none() | st.text(alphabet="0123456789-+ _x", max_size=22),
    signed=st.booleans(),
)
@settings(max_examples=120)
def test_http_never_5xx(lc: Any, body: Any, path_name: str | None, header_seq: str | None, signed: bool) -> None:
    name = path_name if path_name is not None else (body.get("name") if isinstance(body, dict) else None) or "w"
    headers = {"content-type": "application/json"}
    if header_seq is not None:
        headers["X-Sedna-Report-Seq"] = header_seq
    if signed and isinstance(body, dict) and all(isinstance(body.get(k), str) for k in ("namespace", "ownerKind", "ownerName")):
        try:
            headers["Authorization"] = "Bearer " + report_token(SECRET, body["namespace"], body["ownerKind"], body["ownerName"])
        except (KeyError, ValueError):
            pass
    r = _post(lc, f"/sedna/workers/{quote(name, safe='')}/info", json.dumps(body), headers)
    assert r.status_code in (200, 400, 401, 403, 404, 405, 409, 422), (r.status_code, r.text)
    if r.status_code != 404:
        answer = r.json()
        assert answer["Status"] == r.status_code and isinstance(answer["Message"], str)
