"""The web page's server side without a browser: the page and its files, the endpoints it adds
(vocabulary, statistical-spec summary, search by CSV) and the CSV parser."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from sedna_market.service import create_app
from sedna_market.settings import MarketSettings
from sedna_market.spec.rkme import RKMETableSpec, generate_rkme_table_spec
from sedna_market.spec.semantic import VOCABULARY
from sedna_market.web.csv_data import CsvError, parse_csv

TOKEN = "web-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MEANS = {"alpha": 0.0, "beta": 3.0}


def csv_bytes(X: np.ndarray, header: bool = True) -> bytes:
    out = io.StringIO()
    if header:
        out.write(",".join(f"f{i}" for i in range(X.shape[1])) + "\n")
    np.savetxt(out, X, delimiter=",", fmt="%.6f")
    return out.getvalue().encode()


@pytest.fixture
def market(tmp_path: Path, make_package: Callable[..., bytes], semantic: Callable[..., object]
           ) -> Iterator[tuple[TestClient, dict[str, str], dict[str, RKMETableSpec]]]:
    """A market (statistical check off: these tests are about the page's endpoints) with two
    models whose training data differ in mean."""
    settings = MarketSettings(db_url=f"sqlite:///{tmp_path / 'kb.db'}", storage_dir=tmp_path / "store",
                              api_token=TOKEN, max_upload_bytes=300_000, run_stat_check=False)
    ids: dict[str, str] = {}
    specs: dict[str, RKMETableSpec] = {}
    with TestClient(create_app(settings)) as client:
        for i, (name, mean) in enumerate(MEANS.items()):
            rng = np.random.default_rng(i)
            specs[name] = generate_rkme_table_spec(rng.normal(mean, 1.0, size=(80, 4)), reduced_set_size=8)
            sem = semantic(name=f"{name} model", scenario="Health" if name == "beta" else "Business")
            r = client.post("/api/v1/learnwares", params={"wait": "true"}, headers=AUTH,
                            files={"file": ("p.zip", make_package("good", spec=specs[name], seed=i))},
                            data={"semantic_spec": json.dumps(sem.to_dict())})  # type: ignore[attr-defined]
            assert r.status_code == 202, r.text
            ids[name] = r.json()["id"]
        yield client, ids, specs


def test_root_redirects_to_the_page_served_with_a_strict_policy(market) -> None:
    client, _, _ = market
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/ui/static/app.js"' in page.text and "http" not in page.text.replace("http-equiv", "")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert client.get("/ui/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/static/app.css").status_code == 200
    # only the page's own files, never a path the client chooses
    for name in ("index.html", "routes.py", "..%2Froutes.py", "%2e%2e%2f__init__.py"):
        assert client.get(f"/ui/static/{name}").status_code == 404, name
    # the page's routes stay out of the API document; its endpoints are in it
    paths = client.get("/openapi.json").json()["paths"]
    assert "/ui/" not in paths and "/" not in paths
    assert {"/api/v1/search/csv", "/api/v1/semantic/vocabulary", "/api/v1/learnwares/{mid}/stat_spec"} <= set(paths)


def test_vocabulary_is_the_checkers(market) -> None:
    client, _, _ = market
    vocab = client.get("/api/v1/semantic/vocabulary").json()
    assert set(vocab) == {"Data", "Task", "Library", "Scenario", "License"}
    for key, field in vocab.items():
        assert (field["type"], tuple(field["values"])) == VOCABULARY[key]


def test_stat_spec_summary(market) -> None:
    client, ids, specs = market
    r = client.get(f"/api/v1/learnwares/{ids['beta']}/stat_spec")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "RKMETableSpecification" and body["dimension"] == 4 and body["feature_shape"] == [4]
    assert body["reduced_points"] == 8 and body["num_points"] == 80
    assert np.allclose(body["weights"], specs["beta"].beta)
    missing = client.get("/api/v1/learnwares/nope/stat_spec")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_csv_search_ranks_the_matching_model_first_without_a_token(market) -> None:
    client, ids, _ = market
    for name, mean in MEANS.items():
        X = np.random.default_rng(10).normal(mean, 1.0, size=(120, 4))
        r = client.post("/api/v1/search/csv", files={"file": ("u.csv", csv_bytes(X), "text/csv")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [s["id"] for s in body["single"]][0] == ids[name]
        assert body["single"][0]["score"] > body["single"][-1]["score"] or len(body["single"]) == 1
        assert body["rows"] == 120 and body["dimension"] == 4 and body["header"] == ["f0", "f1", "f2", "f3"]
        assert 1 <= body["reduced_points"] <= 100
    # the semantic filter applies before the ranking: data like alpha's, but only Health models
    X = np.random.default_rng(11).normal(0.0, 1.0, size=(60, 4))
    health = {"Scenario": {"Type": "Tag", "Values": ["Health"]}}
    r = client.post("/api/v1/search/csv", files={"file": ("u.csv", csv_bytes(X, header=False))},
                    data={"semantic_spec": json.dumps(health), "max_search_num": "3"})
    assert r.status_code == 200, r.text
    assert [s["id"] for s in r.json()["single"]] == [ids["beta"]] and r.json()["header"] is None
    # another width matches no model: an empty ranking, not an error
    r = client.post("/api/v1/search/csv", files={"file": ("u.csv", csv_bytes(X[:, :3]))})
    assert r.status_code == 200 and r.json()["single"] == [] and r.json()["dimension"] == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a,b\n1,2\n3,oops\n", "row 3, column 2: 'oops' is not a number"),
        (b"1,2\n3\n", "row 2 has 1 cells but the first row has 2"),
        (b"", "no data rows"),
        (b"a,b\n", "no data rows (its only row"),
        (b"\xff\xfe\x00\x01", "not UTF-8"),
        (b"a,b\n\x00,1\n", "NUL bytes"),
        (b"a,b\n,1\n,2\n", "no specification can be computed"),
    ],
)
def test_bad_csv_is_a_422_with_the_reason(market, content: bytes, message: str) -> None:
    client, _, _ = market
    r = client.post("/api/v1/search/csv", files={"file": ("u.csv", content, "text/csv")})
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]


def test_csv_search_bounds_and_options(market, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _, _ = market
    r = client.post("/api/v1/search/csv", files={"file": ("u.csv", b"1,2\n" * 80_000)})
    assert r.status_code == 413 and "larger than the limit of 300000 bytes" in r.json()["detail"]
    monkeypatch.setattr("sedna_market.web.routes.MAX_CSV_ROWS", 5)
    r = client.post("/api/v1/search/csv", files={"file": ("u.csv", b"1,2\n" * 6)})
    assert r.status_code == 422 and "more than 5 data rows" in r.json()["detail"]
    r = client.post("/api/v1/search/csv", files={"file": ("u.csv", b"1,2\n")}, data={"semantic_spec": "{bad"})
    assert r.status_code == 422 and "semantic_spec" in r.json()["detail"]
    r = client.post("/api/v1/search/csv", files={"file": ("u.csv", b"1,2\n")}, data={"max_search_num": "0"})
    assert r.status_code == 422
    assert client.post("/api/v1/search/csv").status_code == 422  # no file


def test_parse_csv_reads_headers_delimiters_and_missing_values() -> None:
    X, header = parse_csv(b"\xef\xbb\xbfa;b\n1;2\n\n3;NA\n", 10, 100)
    assert header == ["a", "b"] and X.shape == (2, 2) and X[0].tolist() == [1.0, 2.0] and np.isnan(X[1, 1])
    X, header = parse_csv(b"1\t-2.5e3\n", 10, 100)
    assert header is None and X.tolist() == [[1.0, -2500.0]]
    with pytest.raises(CsvError, match="more than 4 cells"):
        parse_csv(b"1,2\n3,4\n5,6\n", 10, 4)
    with pytest.raises(CsvError, match="more than 2 data rows"):
        parse_csv(b"1\n2\n3\n", 2, 100)
