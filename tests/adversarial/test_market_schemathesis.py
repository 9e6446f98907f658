"""Schemathesis against the market's OpenAPI (``sedna_market.service.create_app``), with an
explicit write token sent on every call and one stored model, so reads, searches, downloads
and deletes meet real data.

* every operation: never a 5xx;
* every operation (less any in ``NONCONFORMING``): every documented response matches its
  schema, the market's own ``{"detail": "<text>"}`` errors and its UTC timestamps included.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from .market_support import AUTH, market_app, package_files, request, submit

_tmp = Path(tempfile.mkdtemp(prefix="adv-market-"))
atexit.register(shutil.rmtree, _tmp, True)
app = market_app(_tmp, max_upload_bytes=256 * 1024)
assert submit(app, package_files()).status_code == 202
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

# every operation's answers follow the OpenAPI (was: the /api/v1/learnwares routes, search and the
# KB download, whose 4xx {"detail": "<text>"} and naive created_at broke it); an operation with a
# contract bug goes here, with the bug named, until it is fixed
NONCONFORMING: list[str] = []
conforming = schema.exclude(path_regex="|".join(NONCONFORMING)) if NONCONFORMING else schema


@schema.parametrize()
@settings(max_examples=25)
def test_market_api_never_5xx(case: Any) -> None:
    response = case.call(headers=dict(AUTH))
    case.validate_response(response, checks=[not_a_server_error])


@conforming.parametrize()
@settings(max_examples=15)
def test_market_api_conforms_to_its_openapi(case: Any) -> None:
    response = case.call(headers=dict(AUTH))
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def test_created_at_is_an_rfc3339_date_time() -> None:
    # was '2026-12-02T00:54:26.269179': naive, not the RFC 3339 date-time the OpenAPI promises
    listing = request(app, "GET", "/api/v1/learnwares").json()
    assert listing and all(RFC3339.match(item["created_at"]) for item in listing), [i["created_at"] for i in listing]
    one = request(app, "GET", f"/api/v1/learnwares/{listing[0]['id']}").json()
    assert RFC3339.match(one["created_at"]) and one["created_at"].endswith(("Z", "+00:00")), one


def _documented_422(path: str, method: str) -> dict[str, Any]:
    """The schema the OpenAPI gives for ``method path``'s 422, ``$ref``s resolved one level."""
    doc = request(app, "GET", "/openapi.json").json()
    ref = doc["paths"][path][method]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    return dict(doc["components"]["schemas"][ref.rsplit("/", 1)[-1]])


def test_a_422_detail_has_the_documented_shape() -> None:
    # was: the market's own 422s (HTTPException(422, str)) answered {"detail": "<text>"} while the
    # OpenAPI documented only FastAPI's list of validation errors. The answer is kept (clients
    # read the text); the OpenAPI now documents detail as text or that list.
    answers = [
        ("/api/v1/search", "post", request(app, "POST", "/api/v1/search", json={"stat_spec": {"z": [], "beta": []}})),
        ("/knowledgebase/file/download", "get", request(app, "GET", "/knowledgebase/file/download", params={"files": ""})),
        ("/api/v1/search", "post", request(app, "POST", "/api/v1/search", json={"max_search_num": 0})),
    ]
    for path, method, r in answers:
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        documented = _documented_422(path, method)["properties"]["detail"]["anyOf"]
        assert {"type": "string"} in documented and any(d.get("type") == "array" for d in documented), documented
        if isinstance(detail, str):
            assert detail, r.text
        else:
            assert all(isinstance(d, dict) and "loc" in d and "msg" in d for d in detail), r.text
    assert isinstance(answers[0][2].json()["detail"], str) and isinstance(answers[2][2].json()["detail"], list)
