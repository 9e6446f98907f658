"""Text and image specifications: generation, files, checkers, search (Python API and REST).

Texts are written here (four topics, built from templates); images are sklearn's ``load_digits``
(8x8) and crops of ``load_sample_images`` (both ship with scikit-learn), nothing is downloaded.
"""

from __future__ import annotations

import io
import itertools
import json
import socket
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
import yaml
from sklearn.datasets import load_digits, load_sample_images
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sedna_market.checkers.stat_checker import PROBE_SENTENCES, probe_texts
from sedna_market.client import MarketClient
from sedna_market.encoders import image as image_encoder
from sedna_market.market import Market, SubmissionError
from sedna_market.organizer import DONE, Organizer
from sedna_market.package import build_pickle_package, read_package, safe_extract
from sedna_market.schemas import SearchQuery
from sedna_market.search.stat_index import StatIndex
from sedna_market.search.stat_search import kind_mask, stat_search
from sedna_market.service import create_app
from sedna_market.settings import MarketSettings
from sedna_market.spec import (
    RKMEImageSpec,
    RKMETableSpec,
    RKMETextSpec,
    generate_image_spec,
    generate_rkme_table_spec,
    generate_semantic_spec,
    generate_stat_spec,
    generate_text_spec,
    load_stat_spec,
    stat_spec_from_dict,
)
from sedna_market.status import CheckStatus

TOKEN = "t0ken"

# -- data ------------------------------------------------------------------------------------------
_TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "sports": (
        ["The striker", "Our goalkeeper", "The home team", "The captain", "The young midfielder", "The coach"],
        ["scored a late goal in", "celebrated the win after", "was injured during", "trained hard before",
         "argued with the referee in"],
        ["the cup final", "the derby match", "the league game", "the penalty shootout", "the second half",
         "the away fixture"],
    ),
    "cooking": (
        ["The chef", "My grandmother", "The baker", "Our cook", "The pastry student", "The host"],
        ["stirred the sauce for", "baked the bread for", "seasoned the soup for", "chopped onions for",
         "roasted the vegetables for"],
        ["the dinner party", "the family lunch", "the holiday feast", "the cooking class", "the new recipe",
         "the weekend brunch"],
    ),
    "finance": (
        ["The central bank", "The investor", "The hedge fund", "The trader", "The pension fund", "The broker"],
        ["raised interest rates before", "sold the shares after", "bought government bonds during",
         "reported quarterly earnings for", "hedged currency risk ahead of"],
        ["the market close", "the inflation report", "the stock rally", "the bond auction", "the fiscal year",
         "the earnings season"],
    ),
    "medicine": (
        ["The doctor", "The nurse", "The surgeon", "The patient", "The pharmacist", "The clinic"],
        ["prescribed antibiotics after", "measured blood pressure during", "scheduled surgery following",
         "treated the fever before", "reviewed the symptoms at"],
        ["the hospital visit", "the infection", "the heart exam", "the vaccination", "the emergency admission",
         "the routine checkup"],
    ),
}
TOPICS = tuple(_TOPICS)
SCENARIOS = {"sports": "Entertainment", "cooking": "Others", "finance": "Financial", "medicine": "Health"}


def topic_texts(topic: str) -> tuple[list[str], list[str]]:
    """(model texts, user texts) of one topic: 40 and 20 of its 180 sentences, disjoint."""
    subj, verb, obj = _TOPICS[topic]
    sentences = [f"{s} {v} {o}." for s, v, o in itertools.product(subj, verb, obj)]
    order = np.random.default_rng(len(topic)).permutation(len(sentences))
    return [sentences[i] for i in order[:40]], [sentences[i] for i in order[40:60]]


def crops(img: np.ndarray, n: int, seed: int, size: int = 48) -> np.ndarray:
    """``n`` random ``size x size`` crops of an ``(H, W, 3)`` photo, as ``(n, 3, size, size)``."""
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, img.shape[0] - size, n)
    xs = rng.integers(0, img.shape[1] - size, n)
    return np.stack([img[y : y + size, x : x + size].transpose(2, 0, 1) for y, x in zip(ys, xs, strict=True)])


def text_semantic(topic: str, data: str = "Text", name: str | None = None):
    return generate_semantic_spec(
        name=name or f"{topic} news classifier", description=f"classifies short {topic} sentences",
        data_type=data, task_type="Classification", library_type="Scikit-learn", scenarios=[SCENARIOS[topic]],
        license="MIT", output_description={"Dimension": len(TOPICS), "Description": {}},
        input_description={"Dimension": 384, "Description": {}} if data == "Table" else None,
    )


def image_semantic(name: str, scenario: str = "Education", data: str = "Image"):
    return generate_semantic_spec(
        name=name, description=f"{name} image model", data_type=data, task_type="Classification",
        library_type="Others", scenarios=[scenario], license="MIT",
        output_description={"Dimension": 10, "Description": {}},
    )


def text_classifier(train: dict[str, list[str]]):
    """A pickled-package text model: strings in, topic labels (0..3) out."""
    X = [t for topic in TOPICS for t in train[topic]]
    y = [i for i, topic in enumerate(TOPICS) for _ in train[topic]]
    return make_pipeline(HashingVectorizer(n_features=2**12), LogisticRegression(max_iter=200)).fit(X, y)


IMAGE_MODEL = """
import os
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self, declare_shape=True):
        super().__init__(input_shape=(1, 8, 8) if declare_shape else None, output_shape=(1,))
        self.centroids = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "centroids.npy"))
    def predict(self, X):
        X = np.asarray(X, dtype=float).reshape(len(X), -1)
        d = ((X[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        return d.argmin(axis=1)
"""

TABLE_MODEL_ON_TEXT = """
import numpy as np
from learnware.model import BaseModel

class Model(BaseModel):
    def __init__(self):
        super().__init__(input_shape=None, output_shape=(1,))
    def predict(self, X):
        return (np.asarray(X, dtype=float) @ np.ones(384)).round()  # a table model: no strings
"""


def zip_package(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def image_package(spec: RKMEImageSpec, centroids: np.ndarray, declare_shape: bool = True) -> bytes:
    npy = io.BytesIO()
    np.save(npy, centroids)
    cfg = {"model": {"class_name": "Model", "kwargs": {"declare_shape": declare_shape}},
           "stat_specifications": [{"module_path": "learnware.specification",
                                    "class_name": "RKMEImageSpecification", "file_name": "stat.json"}]}
    return zip_package({"learnware.yaml": yaml.safe_dump(cfg), "__init__.py": IMAGE_MODEL,
                        "centroids.npy": npy.getvalue(), "stat.json": spec.to_json()})


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def texts() -> dict[str, tuple[list[str], list[str]]]:
    return {t: topic_texts(t) for t in TOPICS}


@pytest.fixture(scope="module")
def text_specs(texts) -> dict[str, RKMETextSpec]:
    """One model-side text spec per topic (the encoder loads once per process)."""
    return {t: generate_text_spec(texts[t][0], reduced_set_size=20) for t in TOPICS}


@pytest.fixture(scope="module")
def text_users(texts) -> dict[str, RKMETextSpec]:
    """One user-side text spec per topic, from sentences the models never saw."""
    return {t: generate_text_spec(texts[t][1], reduced_set_size=10) for t in TOPICS}


@pytest.fixture(scope="module")
def images() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(model images, user images) of four domains: digits 0-4, digits 5-9, two photos' crops."""
    digits = load_digits()
    half = len(digits.images) // 2
    low, high = digits.target < 5, digits.target >= 5
    china, flower = load_sample_images().images
    return {
        "digits 0-4": (digits.images[:half][low[:half]][:300], digits.images[half:][low[half:]][:120]),
        "digits 5-9": (digits.images[:half][high[:half]][:300], digits.images[half:][high[half:]][:120]),
        "china": (crops(china, 200, 1), crops(china, 120, 2)),
        "flower": (crops(flower, 200, 3), crops(flower, 120, 4)),
    }


@pytest.fixture(scope="module")
def image_specs(images) -> dict[str, RKMEImageSpec]:
    return {d: generate_image_spec(images[d][0], reduced_set_size=20) for d in images}


@pytest.fixture(scope="module")
def image_users(images) -> dict[str, RKMEImageSpec]:
    return {d: generate_image_spec(images[d][1], reduced_set_size=10) for d in images}


@pytest.fixture(scope="module")
def market(tmp_path_factory, text_specs, image_specs):
    """A market of four text models, four image models, and table models of the same widths
    (384 and 256 columns), whose specs a type-blind search would compare with text and image ones."""
    tmp = tmp_path_factory.mktemp("ti-market")
    org = Organizer(f"sqlite:///{tmp / 'm.db'}", tmp / "store")
    ids: dict[str, str] = {}
    for topic, spec in text_specs.items():
        sem = text_semantic(topic)
        ids[topic] = org.add(build_pickle_package(None, spec, None, (1,), sem), sem, spec, CheckStatus.USABLE, DONE)
    for dom, spec in image_specs.items():
        sem = image_semantic(dom, "Nature" if dom in ("china", "flower") else "Education")
        ids[dom] = org.add(build_pickle_package(None, spec, (1, 8, 8), (1,), sem), sem, spec, CheckStatus.USABLE, DONE)
    for width in (384, 256):
        # the table points sit right on top of the text/image points: nearest of all if types mixed
        close = text_specs["sports"] if width == 384 else image_specs["digits 0-4"]
        spec = RKMETableSpec(close.z, close.beta, close.gamma, 10)
        sem = generate_semantic_spec(name=f"table {width}", description="a table model", data_type="Table",
                                     task_type="Regression", library_type="Scikit-learn", scenarios=["Business"],
                                     input_description={"Dimension": width}, output_description={"Dimension": 1})
        ids[f"table {width}"] = org.add(build_pickle_package(None, spec, (width,), (1,), sem), sem, spec,
                                        CheckStatus.USABLE, DONE)
    m = Market(org, run_stat_check=False)
    yield m, ids
    m.close()


# -- specifications --------------------------------------------------------------------------------
def test_text_spec_shape_determinism_and_file_round_trip(texts, text_specs, tmp_path) -> None:
    spec = text_specs["sports"]
    assert isinstance(spec, RKMETextSpec) and spec.type == "RKMETextSpecification"
    assert spec.z.shape == (20, 384) and spec.num_points == 40
    assert np.all(spec.beta >= 0) and spec.beta.sum() == pytest.approx(1.0)
    few = texts["sports"][0][:15]
    once, again = generate_text_spec(few, reduced_set_size=5), generate_stat_spec("text", few, reduced_set_size=5)
    assert isinstance(again, RKMETextSpec) and again.z.shape == (5, 384)
    assert np.array_equal(again.z, once.z) and np.array_equal(again.beta, once.beta)
    spec.save(tmp_path / "stat.json")
    raw = json.loads((tmp_path / "stat.json").read_text())
    assert raw["type"] == "RKMETextSpecification" and raw["encoder"] == "all-MiniLM-L6-v2"
    loaded = load_stat_spec(tmp_path / "stat.json")
    assert isinstance(loaded, RKMETextSpec) and loaded.encoder == spec.encoder
    assert np.array_equal(loaded.z, spec.z) and np.array_equal(loaded.beta, spec.beta)
    assert loaded.gamma == spec.gamma and loaded.dist(spec) == pytest.approx(0.0, abs=1e-12)
    # a learnware-made text spec (its own encoder, no 'encoder' field) loads, marked unknown
    del raw["encoder"]
    assert stat_spec_from_dict(raw).encoder == "unknown"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unsupported statistical spec type"):
        RKMETableSpec.from_dict({**raw, "encoder": "all-MiniLM-L6-v2"})
    with pytest.raises(ValueError, match="384"):
        stat_spec_from_dict({**raw, "encoder": "all-MiniLM-L6-v2", "z": [row[:10] for row in raw["z"]]})
    with pytest.raises(TypeError, match="list of strings"):
        generate_text_spec("one string")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        generate_text_spec(["ok", b"bytes"])  # type: ignore[list-item]


def test_topics_are_closer_to_themselves(text_users, text_specs) -> None:
    for t, user in text_users.items():
        dists = {m: user.dist(spec) for m, spec in text_specs.items()}
        assert min(dists, key=dists.__getitem__) == t, dists


def test_image_spec_shape_determinism_layouts_and_round_trip(images, image_specs, tmp_path) -> None:
    digits = images["digits 0-4"][0]
    spec = image_specs["digits 0-4"]
    assert isinstance(spec, RKMEImageSpec) and spec.z.shape == (20, image_encoder.DIM) == (20, 256)
    assert np.all(spec.beta >= 0) and spec.beta.sum() == pytest.approx(1.0)
    again = generate_image_spec(digits, reduced_set_size=20)
    assert np.array_equal(again.z, spec.z) and np.array_equal(again.beta, spec.beta)
    # more than sample_size images: a RandomState(random_state) subsample, every image counted
    sub = generate_image_spec(digits, reduced_set_size=5, sample_size=60)
    keep = np.sort(np.random.RandomState(0).choice(len(digits), 60, replace=False))
    assert sub.num_points == len(digits)
    assert np.array_equal(sub.z, generate_image_spec(digits[keep], reduced_set_size=5).z)
    # (N, H, W) is one channel: the same as (N, 1, H, W); channels-last photos as channels-first
    assert np.array_equal(generate_image_spec(digits[:, None], reduced_set_size=20).z, spec.z)
    photo = images["china"][0][:40]
    assert np.allclose(image_encoder.encode(photo.transpose(0, 2, 3, 1), channels_last=True),
                       image_encoder.encode(photo))
    spec.save(tmp_path / "img.json")
    raw = json.loads((tmp_path / "img.json").read_text())
    assert raw["type"] == "RKMEImageSpecification" and raw["encoder"] == "sedna-random-cnn-v1"
    loaded = load_stat_spec(tmp_path / "img.json")
    assert isinstance(loaded, RKMEImageSpec) and np.array_equal(loaded.z, spec.z)
    # learnware's own image specs (images as z, no encoder) are refused with what to do
    del raw["encoder"]
    with pytest.raises(ValueError, match="regenerate it with"):
        stat_spec_from_dict(raw)
    with pytest.raises(ValueError, match="channels"):
        image_encoder.encode(np.zeros((2, 5, 8, 8)))


def test_image_features_are_fixed_and_scale_free(images) -> None:
    import torch

    x = images["flower"][0][:16]
    torch.manual_seed(123)
    first = image_encoder.encode(x)
    image_encoder._torch_weights.cache_clear()  # rebuilt from the seed, not from torch's RNG state
    torch.manual_seed(7)
    assert np.array_equal(image_encoder.encode(x), first)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    # per-image standardisation: value range and brightness do not change the features
    assert np.allclose(image_encoder.encode(x / 255.0 * 3.0 + 10.0), first, atol=1e-5)
    # NaN pixels are filled, not propagated
    bad = x.astype(float)
    bad[0, 0, :4, :4] = np.nan
    assert np.all(np.isfinite(image_encoder.encode(bad)))
    # different images give different features
    assert not np.allclose(first[0], first[1])


# -- search ----------------------------------------------------------------------------------------
def test_text_search_ranks_the_topic_first_and_only_text_models(market, text_users) -> None:
    m, ids = market
    text_ids = {ids[t] for t in TOPICS}
    for topic, user in text_users.items():
        res = m.search(SearchQuery(stat_spec=user.to_dict(), max_search_num=1))
        assert res.single[0].id == ids[topic], (topic, res.single)
        assert {s.id for s in res.single} <= text_ids  # never the 384-column table model


def test_image_search_ranks_the_domain_first_and_only_image_models(market, image_users) -> None:
    m, ids = market
    image_ids = {ids[d] for d in image_users}
    for dom, user in image_users.items():
        res = m.search(SearchQuery(stat_spec=user.to_dict(), max_search_num=1))
        assert res.single[0].id == ids[dom], (dom, res.single)
        assert {s.id for s in res.single} <= image_ids


def test_table_search_skips_text_and_image_models_of_the_same_width(market, text_specs) -> None:
    m, ids = market
    close = text_specs["sports"]
    user = RKMETableSpec(close.z, close.beta, close.gamma, 10)
    res = m.search(SearchQuery(stat_spec=user.to_dict()))
    assert [s.id for s in res.single] == [ids["table 384"]]


def test_mixed_semantic_and_statistical_search(market, texts, text_users, image_users) -> None:
    m, ids = market
    sports_user = text_users["sports"]
    # semantic filter first: only Financial text models survive, then the statistical ranking
    res = m.search(SearchQuery(semantic_spec={"Data": {"Type": "Class", "Values": ["Text"]},
                                              "Scenario": {"Type": "Tag", "Values": ["Financial", "Health"]}},
                               stat_spec=sports_user.to_dict(), max_search_num=1))
    assert {s.id for s in res.single} <= {ids["finance"], ids["medicine"]} and res.single
    res = m.search(SearchQuery(semantic_spec={"Data": {"Type": "Class", "Values": ["Text"]}},
                               stat_spec=sports_user.to_dict(), max_search_num=1))
    assert res.single[0].id == ids["sports"]
    # a user whose texts mix two topics gets a mixture of the two topic models
    mixed = generate_text_spec(texts["sports"][1] + texts["finance"][1], reduced_set_size=20)
    res = m.search(SearchQuery(semantic_spec={"Data": {"Type": "Class", "Values": ["Text"]}},
                               stat_spec=mixed.to_dict(), max_search_num=3))
    assert res.mixture is not None and set(res.mixture.ids) == {ids["sports"], ids["finance"]}
    # images: Nature photos only, then the flower crops rank first
    flower_user = image_users["flower"]
    res = m.search(SearchQuery(semantic_spec={"Scenario": {"Type": "Tag", "Values": ["Nature"]}},
                               stat_spec=flower_user.to_dict(), max_search_num=1))
    assert res.single[0].id == ids["flower"] and {s.id for s in res.single} <= {ids["flower"], ids["china"]}


def test_kind_mask_separates_types_and_encoders_of_one_width() -> None:
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(6, 384))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    beta = np.full(6, 1 / 6)
    table, text = RKMETableSpec(unit, beta), RKMETextSpec(unit, beta)
    other = RKMETextSpec(unit, beta, encoder="paraphrase-multilingual-MiniLM-L12-v2")
    group = StatIndex([("a", table), ("b", text), ("c", other)]).group_for(text)
    assert group is not None and group.size == 3
    assert list(kind_mask(group, text)) == [False, True, False]
    assert list(kind_mask(group, table)) == [True, False, False]
    only_text = StatIndex([("b", text)]).group_for(text)
    assert kind_mask(only_text, text) is None  # one kind, the user's: no filtering at all
    assert list(kind_mask(only_text, table)) == [False]
    assert stat_search(StatIndex([("a", table), ("b", text)]), text).single[0].id == "b"


def test_text_and_image_specs_survive_a_restart(tmp_path, text_specs, image_specs) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    org = Organizer(url, tmp_path / "store")
    tid = org.add(None, text_semantic("cooking"), text_specs["cooking"], CheckStatus.USABLE, DONE)
    iid = org.add(None, image_semantic("china"), image_specs["china"], CheckStatus.USABLE, DONE)
    again = Organizer(url, tmp_path / "store")
    text, image = again.get(tid).stat_spec, again.get(iid).stat_spec  # type: ignore[union-attr]
    assert isinstance(text, RKMETextSpec) and text.encoder == "all-MiniLM-L6-v2"
    assert isinstance(image, RKMEImageSpec) and image.encoder == "sedna-random-cnn-v1"
    assert np.array_equal(text.z, text_specs["cooking"].z) and np.array_equal(image.beta, image_specs["china"].beta)


# -- checkers --------------------------------------------------------------------------------------
@pytest.fixture
def checked_market(tmp_path):
    m = Market.open(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "store")
    yield m
    m.close()


def test_checker_accepts_a_text_model_and_rejects_a_bad_one(checked_market, texts, text_specs) -> None:
    probe = probe_texts()
    assert len(probe) == 10 and probe[:5] == list(PROBE_SENTENCES)
    assert all(10 <= len(t) <= 1000 for t in probe[5:]) and probe == probe_texts()
    m = checked_market
    model = text_classifier({t: texts[t][0] for t in TOPICS})
    sem = text_semantic("sports")
    good = m.submit(build_pickle_package(model, text_specs["sports"], None, (1,), sem), sem)
    assert good.status == CheckStatus.USABLE, good.reason
    # a table model packaged as text: predict gets strings and fails
    cfg = {"model": {"class_name": "Model"},
           "stat_specifications": [{"class_name": "RKMETextSpecification", "file_name": "stat_spec.json"}]}
    bad_pkg = zip_package({"learnware.yaml": yaml.safe_dump(cfg), "__init__.py": TABLE_MODEL_ON_TEXT,
                           "stat_spec.json": text_specs["finance"].to_json()})
    bad = m.submit(bad_pkg, text_semantic("finance"))
    assert bad.status == CheckStatus.INVALID and "could not convert string to float" in bad.reason, bad.reason
    # Data and spec type must agree (semantic check, before anything is stored)
    with pytest.raises(SubmissionError, match="Data is 'Table' but the statistical specification is an "
                                              "RKMETextSpecification"):
        m.submit(build_pickle_package(model, text_specs["sports"], None, (1,), sem), text_semantic("sports", "Table"))
    assert len(m.organizer) == 2


def test_checker_accepts_an_image_model_and_rejects_a_bad_one(checked_market, images, image_specs) -> None:
    m = checked_market
    digits = load_digits()
    centroids = np.stack([digits.data[digits.target == k].mean(axis=0) for k in range(10)])
    spec = image_specs["digits 0-4"]
    good = m.submit(image_package(spec, centroids), image_semantic("digits"))
    assert good.status == CheckStatus.USABLE, good.reason
    bad = m.submit(image_package(spec, centroids, declare_shape=False), image_semantic("digits"))
    assert bad.status == CheckStatus.INVALID and "must declare input_shape" in bad.reason, bad.reason
    table_spec = generate_rkme_table_spec(digits.data[:100], reduced_set_size=5)
    with pytest.raises(SubmissionError, match="Image models need an RKMEImageSpecification"):
        m.submit(build_pickle_package(None, table_spec, (64,), (1,)), image_semantic("digits"))


def test_packages_name_their_spec_class(text_specs, image_specs, tmp_path) -> None:
    pkg = build_pickle_package(None, text_specs["cooking"], None, (1,), text_semantic("cooking"))
    safe_extract(pkg, tmp_path)
    assert yaml.safe_load((tmp_path / "learnware.yaml").read_text())["stat_specifications"][0]["class_name"] == \
        "RKMETextSpecification"
    _, info = read_package(tmp_path)
    assert isinstance(info.stat_spec, RKMETextSpec) and info.model.kwargs["input_shape"] is None


# -- REST ------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    settings = MarketSettings(db_url=f"sqlite:///{tmp_path / 'kb.db'}", storage_dir=tmp_path / "store",
                              api_token=TOKEN, check_timeout_s=30)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_rest_submit_and_search_text_and_image_models(server, texts, text_specs, text_users, image_specs,
                                                      image_users) -> None:
    model = text_classifier({t: texts[t][0] for t in TOPICS})
    digits = load_digits()
    centroids = np.stack([digits.data[digits.target == k].mean(axis=0) for k in range(10)])
    with MarketClient(server, token=TOKEN) as client:
        tid = {}
        for topic in ("sports", "cooking"):
            sem = text_semantic(topic)
            sub = client.submit(build_pickle_package(model, text_specs[topic], None, (1,), sem), sem, wait=True)
            assert sub.status_name == "USABLE", sub.reason
            tid[topic] = sub.id
        img = client.submit(image_package(image_specs["digits 5-9"], centroids), image_semantic("digits"), wait=True)
        assert img.status_name == "USABLE", img.reason
        assert client.get(tid["sports"]).feature_shape == [384]
        user = text_users["cooking"]
        res = client.search(stat_spec=user, max_search_num=1)
        assert res.single[0].id == tid["cooking"] and img.id not in {s.id for s in res.single}
        res = client.search(semantic_spec={"Scenario": {"Type": "Tag", "Values": ["Entertainment"]}},
                            stat_spec=user, max_search_num=1)
        assert [s.id for s in res.single] == [tid["sports"]]
        img_user = image_users["digits 5-9"]
        res = client.search(stat_spec=img_user)
        assert [s.id for s in res.single] == [img.id]
    # the raw wire form: the type comes from the spec JSON; a learnware image spec is a 422
    body = img_user.to_dict()
    del body["encoder"]
    r = httpx.post(f"{server}/api/v1/search", json={"stat_spec": body})
    assert r.status_code == 422 and "regenerate it with" in r.json()["detail"], r.text
    r = httpx.post(f"{server}/api/v1/search", json={"stat_spec": {**body, "type": "RKMEAudioSpecification"}})
    assert r.status_code == 422 and "unsupported statistical spec type" in r.json()["detail"], r.text
