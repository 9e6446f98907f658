"""Hetero market (issue 13 item 1): eligibility, the engine (mapping, VPCL training, save/load),
the organizer hook (add, update, delete, auto-update, restart) and hetero search, down to the
REST search of ``create_app``. Data: scikit-learn's bundled datasets (``bench/hetero.py``)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from sedna_market.hetero import HETERO_SPEC_TYPE, HeteroMapTableSpec, hetero_reason, is_hetero
from sedna_market.hetero.engine import HeteroEngine, TrainConfig
from sedna_market.hetero.organizer import MODEL_FILE, HeteroOrganizer
from sedna_market.organizer import DONE, Organizer
from sedna_market.service import create_app
from sedna_market.settings import MarketSettings
from sedna_market.spec.rkme import RKMETableSpec, generate_rkme_table_spec
from sedna_market.spec.semantic import generate_semantic_spec
from sedna_market.status import CheckStatus
from tests.market.conftest import make_zip

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import hetero as bench  # noqa: E402

#: epochs of the engine the search tests train (the bench's default training)
EPOCHS = TrainConfig().epochs

LINEAR_MODEL = """
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self, coef, intercept):
        self.w = np.asarray(coef, dtype=float)
        self.b = np.asarray(intercept, dtype=float)
        super().__init__(input_shape=(self.w.shape[1],), output_shape=(self.w.shape[0],))
    def predict(self, X):
        return np.asarray(X, dtype=float) @ self.w.T + self.b
"""


def linear_package(party: bench.Party, rkme: RKMETableSpec | None = None) -> bytes:
    """A checkable package: a linear model over the party's columns (scores per output)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if party.regression:
        fit = Ridge().fit(party.X, party.y)
        coef, intercept = np.atleast_2d(fit.coef_), np.atleast_1d(fit.intercept_)
    else:
        fit = LogisticRegression(max_iter=500).fit(party.X, party.y)
        coef, intercept = fit.coef_, fit.intercept_
        if len(fit.classes_) == 2:  # one score column; the semantic spec says 2 outputs
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    cfg = {"model": {"class_name": "Model", "kwargs": {"coef": coef.tolist(), "intercept": intercept.tolist()}}}
    return make_zip({
        "learnware.yaml": yaml.safe_dump(cfg),
        "__init__.py": LINEAR_MODEL,
        "requirements.txt": "numpy\n",
        "stat_spec.json": (rkme or party.rkme).to_json(),
    })


@pytest.fixture(scope="module")
def scenario() -> bench.Scenario:
    return bench.make_scenario(0)


@pytest.fixture(scope="module")
def trained(scenario: bench.Scenario) -> HeteroEngine:
    engine = HeteroEngine()
    engine.fit(bench.engine_tables(scenario.models))
    return engine


# -- eligibility ----------------------------------------------------------------------------
def _sem(dim: int = 3, desc: dict[str, str] | None = None, data: str | None = "Table",
         task: str | None = "Classification") -> object:
    return generate_semantic_spec(
        name="m", data_type=data, task_type=task,
        input_description={"Dimension": dim, "Description": {"0": "age"} if desc is None else desc},
    )


def test_eligibility_follows_learnwares_rule() -> None:
    rkme = generate_rkme_table_spec(np.random.default_rng(0).normal(size=(30, 3)), reduced_set_size=5)
    assert is_hetero(_sem(), rkme)
    assert is_hetero(_sem(data=None, task=None), rkme)  # empty Data and Task qualify
    assert is_hetero(_sem(task="Regression"), rkme)
    assert "not Table" in (hetero_reason(_sem(data="Image"), rkme) or "")
    assert "Classification or Regression" in (hetero_reason(_sem(task="Segmentation"), rkme) or "")
    assert "describes no feature" in (hetero_reason(_sem(desc={}), rkme) or "")
    assert "describes no feature" in (hetero_reason(_sem(desc={"0": "  "}), rkme) or "")
    assert "Input.Dimension is 4" in (hetero_reason(_sem(dim=4), rkme) or "")
    assert hetero_reason(None, rkme) == "no semantic specification"
    sem = _sem()
    sem.Input = None  # type: ignore[attr-defined]
    assert hetero_reason(sem, rkme) == "the semantic spec has no Input"
    hspec = HeteroMapTableSpec(rkme.z, rkme.beta)
    assert hetero_reason(_sem(), hspec) == "no table RKME specification"


# -- engine ---------------------------------------------------------------------------------
def test_mapping_has_the_unified_shape_keeps_beta_and_is_deterministic(scenario: bench.Scenario) -> None:
    party = scenario.models[0]
    desc = party.semantic.Input.Description  # type: ignore[union-attr]
    a = HeteroEngine(seed=3).hetero_mapping(party.rkme, desc)
    b = HeteroEngine(seed=3).hetero_mapping(party.rkme, desc)
    assert isinstance(a, HeteroMapTableSpec) and a.type == HETERO_SPEC_TYPE
    assert a.z.shape == (len(party.rkme.beta), 64)
    assert np.array_equal(a.beta, party.rkme.beta) and a.gamma == 0.1
    assert np.allclose(np.linalg.norm(a.z, axis=1), 3.0, atol=1e-4)  # output_scale
    assert np.array_equal(a.z, b.z)
    # the descriptions matter: the same numbers under other column names map elsewhere
    other = HeteroEngine(seed=3).hetero_mapping(party.rkme, ["Unknown Feature"] * party.rkme.dim)
    assert not np.allclose(a.z, other.z)
    back = HeteroMapTableSpec.from_dict(json.loads(a.to_json()))
    assert np.array_equal(back.z, a.z) and back.type == HETERO_SPEC_TYPE
    with pytest.raises(ValueError, match="HeteroMapTableSpecification"):
        HeteroMapTableSpec.from_dict(party.rkme.to_dict())


def test_training_lowers_the_vpcl_loss_and_is_reproducible(scenario: bench.Scenario) -> None:
    tables = bench.engine_tables(scenario.models[:4])
    first, second = HeteroEngine(), HeteroEngine()
    losses = first.fit(tables, TrainConfig(epochs=6))
    assert losses[-1] < 0.95 * losses[0], losses
    second.fit(tables, TrainConfig(epochs=6))
    m = scenario.models[5]
    desc = m.semantic.Input.Description  # type: ignore[union-attr]
    assert np.allclose(first.hetero_mapping(m.rkme, desc).z, second.hetero_mapping(m.rkme, desc).z, atol=1e-5)
    assert first.trained_on == 4 and first.engine_id != second.engine_id
    with pytest.raises(ValueError, match="at least one table"):
        HeteroEngine().fit([(np.zeros((1, 3)), None)])


def test_save_load_round_trip(tmp_path: Path, trained: HeteroEngine, scenario: bench.Scenario) -> None:
    path = tmp_path / "hetero" / MODEL_FILE
    trained.save(path)
    loaded = HeteroEngine.load(path)
    assert loaded.engine_id == trained.engine_id and loaded.trained_on == trained.trained_on
    u = scenario.users[0]
    desc = u.semantic.Input.Description  # type: ignore[union-attr]
    assert np.allclose(loaded.hetero_mapping(u.rkme, desc).z, trained.hetero_mapping(u.rkme, desc).z, atol=1e-6)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot load the hetero engine"):
        HeteroEngine.load(path)


# -- search quality -------------------------------------------------------------------------
def test_hetero_search_ranks_a_model_of_the_users_source_first(trained: HeteroEngine, scenario: bench.Scenario) -> None:
    """12 users, each with a column subset no model has; 6 sources (chance 1/6)."""
    hits = bench.top1_hits(trained, scenario)
    assert len(hits) == 12
    assert np.mean(hits) >= 11 / 12, hits
    # the same users without feature descriptions: the engine sees numbers only and the hit
    # rate falls to chance-like levels (4/12 measured), so the ranking above comes from mapping
    # described features, not from anything the numbers alone give away
    blind = copy.deepcopy(scenario)
    for u in blind.users:
        u.semantic.Input.Description = {str(i): "Unknown Feature" for i in range(len(u.columns))}  # type: ignore[union-attr]
    assert np.mean(bench.top1_hits(trained, blind)) <= 6 / 12


# -- organizer ------------------------------------------------------------------------------
def _add(org: Organizer, party: bench.Party, status: CheckStatus = CheckStatus.USABLE, semantic: object = None) -> str:
    return org.add(linear_package(party), semantic or party.semantic, party.rkme, status, DONE, "checked")


def test_organizer_keeps_hetero_specs_in_step(tmp_path: Path, scenario: bench.Scenario) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    org = Organizer(db, tmp_path)
    het = HeteroOrganizer(org, tmp_path, auto_update_limit=3, train_config=TrainConfig(epochs=2))
    spec_dir = tmp_path / "hetero" / "hetero_specifications"
    a = _add(org, scenario.models[0])
    assert het.spec(a) is not None and (spec_dir / f"{a}.json").exists()
    # not eligible: NONUSABLE, or no feature descriptions
    b = _add(org, scenario.models[1], CheckStatus.NONUSABLE)
    plain = scenario.models[2].semantic.model_copy(deep=True)
    plain.Input.Description = {}  # type: ignore[union-attr]
    c = _add(org, scenario.models[2], semantic=plain)
    assert het.spec(b) is None and het.spec(c) is None and len(het) == 1
    assert het.engine.trained_on == 0 and het.countdown == 2
    # b becomes USABLE: the second new eligible model
    org.update(b, status=CheckStatus.USABLE)
    assert het.spec(b) is not None and het.countdown == 1
    # a third: the engine retrains on all three eligible models, saves, remakes every spec
    before = het.spec(a)
    d = _add(org, scenario.models[3])
    assert het.engine.trained_on == 3 and (tmp_path / "hetero" / MODEL_FILE).exists()
    assert het.countdown == 3 and len(het) == 3
    assert not np.allclose(het.spec(a).z, before.z)  # type: ignore[union-attr]
    stamps = {json.loads((spec_dir / f"{m}.json").read_text())["engine"] for m in (a, b, d)}
    assert stamps == {het.engine_id}
    # an INVALID result drops the package: the spec goes; a delete removes the file
    org.update(b, status=CheckStatus.INVALID, drop_package=True)
    assert het.spec(b) is None and not (spec_dir / f"{b}.json").exists()
    assert org.delete(d)
    assert het.spec(d) is None and not (spec_dir / f"{d}.json").exists()
    # a restart loads the engine and the specs, and remakes nothing
    kept = het.spec(a)
    org2 = Organizer(db, tmp_path)
    het2 = HeteroOrganizer(org2, tmp_path, auto_update_limit=3)
    assert het2.engine_id == het.engine_id and len(het2) == 1
    assert np.array_equal(het2.spec(a).z, kept.z)  # type: ignore[union-attr]


def test_market_search_goes_hetero_only_for_described_users(tmp_path: Path, trained: HeteroEngine,
                                                            scenario: bench.Scenario) -> None:
    """Through ``create_app``'s REST search, on a market whose engine is already trained."""
    trained.save(tmp_path / "hetero" / MODEL_FILE)
    db = f"sqlite:///{tmp_path / 'm.db'}"
    org = Organizer(db, tmp_path)
    ids = [_add(org, m) for m in scenario.models]
    source = dict(zip(ids, [m.source for m in scenario.models], strict=True))
    settings = MarketSettings(db_url=db, storage_dir=tmp_path, insecure=True, hetero=True, run_stat_check=True)
    with TestClient(create_app(settings)) as client:
        assert client.app.state.market.organizer.hetero.engine_id == trained.engine_id  # type: ignore[attr-defined]
        firsts = []
        for user in scenario.users:
            body = {"semantic_spec": user.semantic.to_dict(), "stat_spec": user.rkme.to_dict(), "max_search_num": 3}
            res = client.post("/api/v1/search", json=body)
            assert res.status_code == 200, res.text
            out = res.json()
            assert out["hetero"] is True and out["single"]
            firsts.append(source[out["single"][0]["id"]] == user.source)
        assert np.mean(firsts) >= 11 / 12, firsts
        # without descriptions (or with hetero off) it is the normal search: only models with
        # as many features as the user's are compared
        dims = dict(zip(ids, [len(m.columns) for m in scenario.models], strict=True))
        user = scenario.users[0]
        plain = user.semantic.to_dict()
        plain["Input"]["Description"] = {}
        res = client.post("/api/v1/search", json={"semantic_spec": plain, "stat_spec": user.rkme.to_dict()}).json()
        assert res["hetero"] is False
        assert {dims[r["id"]] for r in res["single"]} <= {user.rkme.dim}
        off = {"semantic_spec": user.semantic.to_dict(), "stat_spec": user.rkme.to_dict(), "hetero": False}
        res = client.post("/api/v1/search", json=off).json()
        assert res["hetero"] is False and {dims[r["id"]] for r in res["single"]} <= {user.rkme.dim}
        # a real submission is checked in the sandbox, becomes USABLE and gets its hetero spec
        extra = scenario.users[1]
        files = {"file": ("m.zip", linear_package(extra), "application/zip")}
        sub = client.post("/api/v1/learnwares?wait=true", files=files,
                          data={"semantic_spec": json.dumps(extra.semantic.to_dict())})
        assert sub.status_code == 202 and sub.json()["status_name"] == "USABLE", sub.text
        mid = sub.json()["id"]
        assert (tmp_path / "hetero" / "hetero_specifications" / f"{mid}.json").exists()
        assert client.get("/api/v1/hetero").json()["hetero_specs"] == len(ids) + 1
        body = {"semantic_spec": extra.semantic.to_dict(), "stat_spec": extra.rkme.to_dict()}
        assert client.post("/api/v1/search", json=body).json()["single"][0]["id"] == mid


def test_hetero_routes_report_and_retrain(tmp_path: Path, scenario: bench.Scenario) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    org = Organizer(db, tmp_path)
    for m in scenario.models[:2]:
        _add(org, m)
    tokens = json.dumps({"root-token": {"user": "root", "admin": True}, "alice-token": {"user": "alice"}})
    settings = MarketSettings(db_url=db, storage_dir=tmp_path, tokens=tokens, hetero=True, hetero_auto_update_limit=0)
    with TestClient(create_app(settings)) as client:
        status = client.get("/api/v1/hetero").json()
        assert status == {"engine": "untrained-0", "trained_on": 0, "hetero_specs": 2,
                          "auto_update_limit": 0, "until_retrain": None}
        assert client.post("/api/v1/hetero/train").status_code == 401
        res = client.post("/api/v1/hetero/train", headers={"Authorization": "Bearer alice-token"})
        assert res.status_code == 403
        res = client.post("/api/v1/hetero/train", headers={"Authorization": "Bearer root-token"})
        assert res.status_code == 200 and res.json()["trained_on"] == 2 and res.json()["engine"] != "untrained-0"
    plain = MarketSettings(db_url=db, storage_dir=tmp_path / "other", insecure=True)
    with TestClient(create_app(plain)) as client:
        assert client.get("/api/v1/hetero").status_code == 404


def test_serve_options_and_environment_turn_the_hetero_market_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from sedna_market.cli import app as kb_app

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    args = ["serve", "--insecure", "--db-url", f"sqlite:///{tmp_path / 'm.db'}", "--storage-dir", str(tmp_path)]
    result = CliRunner().invoke(kb_app, [*args, "--hetero", "--hetero-auto-update-limit", "5"])
    assert result.exit_code == 0, result.output
    state = served[-1].state  # type: ignore[attr-defined]
    assert state.settings.hetero and state.market.organizer.hetero.auto_update_limit == 5
    assert (tmp_path / "hetero" / "hetero_specifications").is_dir()
    assert CliRunner().invoke(kb_app, args).exit_code == 0
    assert served[-1].state.market.organizer.hetero is None  # type: ignore[attr-defined]
    monkeypatch.setenv("SEDNA_MARKET_HETERO", "1")
    monkeypatch.setenv("SEDNA_MARKET_HETERO_AUTO_UPDATE_LIMIT", "7")
    settings = MarketSettings(insecure=True)
    assert settings.hetero and settings.hetero_auto_update_limit == 7
    monkeypatch.setenv("SEDNA_MARKET_HETERO_AUTO_UPDATE_LIMIT", "-1")
    bad = MarketSettings(insecure=True, db_url=f"sqlite:///{tmp_path / 'b.db'}", storage_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="auto_update_limit must be >= 0"):
        create_app(bad)
