"""Unseen-task detection of the market knowledge base against the local one, per shift type.

The data is the lifelong-learning example's (``examples/lifelong_learning``): scikit-learn's 8x8
digits seen through two known domains, ``plain`` and ``inverted`` (light ink on dark paper),
500 training images each.  Each knowledge base gets the two tasks through the protocol
LifelongLearning uses (``add_task_model``, task statistics, ``save_index``); then it sees 150
held-out images of each known domain and 300 images (of other digits) under one shift:

* ``noise``: the example's unseen ``noisy`` domain, ``clip(x + N(0, 0.6))``;
* ``low-contrast``: ``0.5 + 0.3 (x - 0.5)``, grey ink on grey paper: every pixel stays inside the
  training range and the image keeps its shape, only the pixel variance shrinks;
* ``flip``: the image mirrored left-right.

Measured per knowledge base: F1 of the unseen flag (the pipeline's recogniser:
``SampleRegonitionByMarket`` / ``SampleRegonitionByDistance``) over the 600 samples, and the
routing accuracy of the 300 seen samples (``nearest_task`` = the task allocation).

Bounds: market F1 >= 0.9 on noise and low contrast, >= the local KB's F1 - 0.02 on every shift,
routing >= 0.95.  A mirrored 8x8 digit is often a plausible digit (0, 1, 4 and 8 are nearly
symmetric, and at this resolution so are many 3s and 9s), so a distance to the task's samples
misses most of them: the market reaches F1 0.33-0.46 there (the local KB 0.11-0.22), and the
flip bound without image knowledge is the local KB's F1 and 0.25.  Told that the samples are 8x8
images (``image_shape``), both knowledge bases add the orientation check
(``sedna.algorithms.unseen_task_detection.orientation``) and reach F1 >= 0.9 on every shift,
mirrored digits included.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sedna.algorithms.knowledge_management import LocalKnowledgeBase, MarketKnowledgeBase, fit_task_statistics
from sedna.algorithms.knowledge_management.market_kb import SampleRegonitionByMarket
from sedna.algorithms.seen_task_learning.artifact import Samples, TaskGroup
from sedna.algorithms.unseen_task_detection import SampleRegonitionByDistance
from sedna_market.lifelong import TaskMarket
from sedna_market.package import build_pickle_package

N_TRAIN = 500
N_SEEN = 150
N_UNSEEN = 300
SHIFTS = ("noise", "low-contrast", "flip")


def render(images: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "inverted":
        return 1.0 - images
    if kind == "noise":
        return np.clip(images + rng.normal(0.0, 0.6, size=images.shape), 0.0, 1.0)
    if kind == "low-contrast":
        return 0.5 + 0.3 * (images - 0.5)
    if kind == "flip":
        return images.reshape(-1, 8, 8)[:, :, ::-1].reshape(len(images), -1)
    raise KeyError(kind)


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    denom = float(pred.sum() + truth.sum())
    return 2.0 * float(np.sum(pred & truth)) / denom if denom else 0.0


def digits_split(seed: int) -> dict[str, np.ndarray]:
    data = load_digits()
    images = data.data / 16.0
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    cut = np.cumsum([N_TRAIN, N_TRAIN, N_SEEN, N_SEEN, N_UNSEEN])
    parts = np.split(order, cut)
    return {
        "plain": images[parts[0]],
        "inverted": render(images[parts[1]], "inverted", rng),
        "seen": np.concatenate([images[parts[2]], render(images[parts[3]], "inverted", rng)]),
        "seen_task": np.repeat([0, 1], N_SEEN),
        "unseen_source": images[parts[4]],
    }


def build_index(kb: LocalKnowledgeBase | MarketKnowledgeBase, data: dict[str, np.ndarray],
                image_shape: tuple[int, int] | None = None) -> dict:
    """What LifelongLearning.train does with its KB: queue the task models, fit the local
    statistics (with the orientation check when ``image_shape`` is given), drop the samples,
    save the index."""
    groups = [TaskGroup(entry=e, samples=Samples(data[e])) for e in ("plain", "inverted")]
    for g in groups:
        kb.add_task_model(g, f"models/{g.entry}.model")
    fit_task_statistics(groups, image_shape=image_shape)
    for g in groups:
        g.samples = None
    index = {"task_groups": groups}
    kb.save_index(index)
    return index


def measure(kind: str, seed: int, root: Path, image_shape: tuple[int, int] | None = None) -> dict[str, float]:
    data = digits_split(seed)
    if kind == "market":
        kb: LocalKnowledgeBase | MarketKnowledgeBase = MarketKnowledgeBase(root)
        recogniser = SampleRegonitionByMarket
    else:
        kb = LocalKnowledgeBase(root)
        recogniser = SampleRegonitionByDistance
    t0 = time.perf_counter()
    index = build_index(kb, data, image_shape)
    out = {"train_s": time.perf_counter() - t0}
    pos, _ = kb.nearest_task(data["seen"], index)
    out["routing"] = float(np.mean(pos == data["seen_task"]))
    truth = np.r_[np.zeros(2 * N_SEEN, bool), np.ones(N_UNSEEN, bool)]
    for shift in SHIFTS:
        unseen = render(data["unseen_source"], shift, np.random.default_rng(seed + 100))
        rec = recogniser(task_index=index)
        rec(Samples(np.concatenate([data["seen"], unseen])))
        flagged = np.zeros(len(truth), bool)
        flagged[rec.unseen_index] = True
        out[shift] = f1(flagged, truth)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_market_catches_every_shift_the_local_kb_catches(tmp_path: Path, seed: int) -> None:
    local = measure("local", seed, tmp_path / "local")
    market = measure("market", seed, tmp_path / "market")
    print(f"\nseed {seed}: " + ", ".join(
        f"{k} market {market[k]:.3f} local {local[k]:.3f}" for k in ("routing", *SHIFTS)))
    assert market["routing"] >= 0.95 and local["routing"] >= 0.95
    floor = {"noise": 0.9, "low-contrast": 0.9, "flip": 0.25}
    short = {s: round(market[s], 3) for s in SHIFTS
             if market[s] < floor[s] or market[s] < local[s] - 0.02}
    assert not short, f"market F1 below its bound: {short}; local KB: { {s: round(local[s], 3) for s in SHIFTS} }"


@pytest.mark.parametrize("kind", ["market", "local"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_told_the_samples_are_images_both_catch_every_shift(tmp_path: Path, kind: str, seed: int) -> None:
    got = measure(kind, seed, tmp_path / kind, image_shape=(8, 8))
    print(f"\nseed {seed} {kind} + pose: " + ", ".join(f"{k} {got[k]:.3f}" for k in ("routing", *SHIFTS)))
    assert got["routing"] >= 0.95
    short = {s: round(got[s], 3) for s in SHIFTS if got[s] < 0.9}
    assert not short, f"{kind} + orientation check: F1 below 0.9: {short}"


def test_profile_threshold_is_calibrated_on_held_out_samples() -> None:
    """With ``quantile = q`` about ``1 - q`` of new samples of the task's own distribution are
    flagged: the threshold comes from held-out scores, not from the training samples' own
    (optimistic) ones."""
    from sedna_market.unseen import UnseenProfile, fit_unseen_profile

    rng = np.random.default_rng(4)
    cov = np.diag(np.linspace(0.2, 3.0, 8))
    X = rng.multivariate_normal(np.zeros(8), cov, size=600)
    prof = fit_unseen_profile(X, quantile=0.9, margin=1.0, folds=5, reduced_set_size=40)
    fresh = rng.multivariate_normal(np.zeros(8), cov, size=4000)
    rate = float(np.mean(prof.normalised(fresh) > 1.0))
    assert 0.05 <= rate <= 0.16, rate
    in_sample = float(np.mean(prof.normalised(X) > 1.0))
    assert in_sample < rate  # the training samples themselves look closer than new ones
    # the stored form scores exactly as the fitted one
    back = UnseenProfile.from_json(prof.to_json())
    assert np.allclose(back.normalised(fresh[:50]), prof.normalised(fresh[:50]))
    assert back.held_out["quantile"] == pytest.approx(prof.threshold)
    with pytest.raises(ValueError):
        back.normalised(np.zeros((2, 5)))


def test_small_move_of_low_variance_features_is_unseen() -> None:
    """Features that barely vary within a task (a blank background) moved by a small absolute
    amount: under one kernel width for all features (the earlier rule: squared MMD with
    ``gamma = 1 / (d * mean variance)``, threshold from the training samples) the move is lost
    in the spread of the other features; under the task's own standardisation it is many
    standard deviations."""
    from sedna_market.lifelong import calibrate_threshold, point_distances
    from sedna_market.search.stat_index import StatIndex
    from sedna_market.spec.rkme import generate_rkme_table_spec
    from sedna_market.unseen import fit_unseen_profile

    rng = np.random.default_rng(6)

    def draw(n: int, background: float) -> np.ndarray:
        return np.c_[rng.normal(0.0, 1.0, size=(n, 6)), rng.normal(background, 0.02, size=(n, 6))]

    X, seen, moved = draw(600, 0.0), draw(300, 0.0), draw(300, 0.3)
    prof = fit_unseen_profile(X)
    flagged = np.r_[prof.normalised(seen), prof.normalised(moved)] > 1.0
    truth = np.r_[np.zeros(300, bool), np.ones(300, bool)]
    assert f1(flagged, truth) >= 0.95
    gamma = 1.0 / (X.shape[1] * X.var(axis=0).mean())
    spec = generate_rkme_table_spec(X, gamma=gamma, reduced_set_size=50)
    group = StatIndex([("t", spec)]).group_for(spec)
    assert group is not None
    old = point_distances(np.r_[seen, moved], group, gamma)[:, 0] > calibrate_threshold(X, spec)
    assert f1(old, truth) < 0.5


def test_profile_is_stored_with_the_task_model(tmp_path: Path) -> None:
    """The profile travels in the task's package: a restarted TaskMarket (and a client of the REST
    market, which only has the package) detects with the same thresholds."""
    from sedna_market.unseen import PROFILE_FILE, profile_from_package

    rng = np.random.default_rng(8)
    X_a, X_b = rng.normal(-3.0, 1.0, size=(300, 5)), rng.normal(3.0, 0.2, size=(300, 5))
    db, store = f"sqlite:///{tmp_path / 't.db'}", tmp_path / "store"
    tm = TaskMarket(db, store, gamma=0.2)
    ids = [tm.add_task_model(_Const(0.0), X_a), tm.add_task_model(_Const(1.0), X_b)]
    probe = np.r_[rng.normal(-3.0, 1.0, size=(50, 5)), rng.normal(3.0, 0.2, size=(50, 5)),
                  rng.normal(3.0, 1.0, size=(50, 5))]  # the last block: task b's mean, 5 x its spread
    tasks, _ = tm.allocate(probe[:100])
    assert tasks == [ids[0]] * 50 + [ids[1]] * 50
    before = tm.detect_unseen(probe)
    assert before[:100].mean() <= 0.06 and before[100:].mean() >= 0.9
    tm2 = TaskMarket(db, store, gamma=0.2)
    assert [tm2.threshold(t) for t in ids] == [tm.threshold(t) for t in ids]
    assert np.array_equal(tm2.detect_unseen(probe), before)
    package = tm2.market.organizer.package_bytes(ids[1])
    assert package is not None
    prof = profile_from_package(package)
    assert prof is not None and prof.threshold == tm.threshold(ids[1])
    # a package built by the SDK for the REST market carries the same file
    built = build_pickle_package(_Const(1.0), tm.spec(ids[1]), (5,), None,
                                 extra_files={PROFILE_FILE: prof.to_json()})
    assert profile_from_package(built).threshold == prof.threshold  # type: ignore[union-attr]
    # a manual override stays in memory and is used
    tm2.set_threshold(ids[1], 1e9)
    assert not tm2.detect_unseen(probe[100:]).any()


class _Const:
    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.value)


def test_index_without_profiles_keeps_the_earlier_rule(tmp_path: Path) -> None:
    """An index written before profiles existed (tasks with an MMD threshold, no ``profile``) is
    still served: squared MMD under the job's kernel over the stored threshold; in an index that
    mixes both, each task is scored by its own rule."""
    from sedna_market.lifelong import calibrate_threshold
    from sedna_market.spec.rkme import RKMETableSpec

    rng = np.random.default_rng(2)
    data = {"a": rng.normal(-4.0, 1.0, size=(200, 3)), "b": rng.normal(4.0, 1.0, size=(200, 3))}
    kb = MarketKnowledgeBase(tmp_path)
    groups = [TaskGroup(entry=e, samples=Samples(x)) for e, x in data.items()]
    for g in groups:
        kb.add_task_model(g, f"models/{g.entry}.model")
    index = {"task_groups": groups}
    kb.save_index(index)
    section = index["market"]
    assert all("profile" in t for t in section["tasks"].values())
    legacy = dict(section, tasks={})
    for entry, task in section["tasks"].items():
        spec = RKMETableSpec.from_dict(task["spec"])
        legacy["tasks"][entry] = {"id": task["id"], "spec": task["spec"], "model_url": task["model_url"],
                                  "threshold": calibrate_threshold(data[entry], spec, 0.99, 1.1)}
    old_index = {"task_groups": groups, "market": legacy}
    probe = np.r_[rng.normal(-4.0, 1.0, size=(20, 3)), rng.normal(4.0, 1.0, size=(20, 3)),
                  rng.normal(0.0, 0.3, size=(20, 3)) + [0.0, 12.0, -12.0]]
    pos, score = kb.nearest_task(probe, old_index)
    assert pos[:40].tolist() == [0] * 20 + [1] * 20
    assert np.mean(score[:40] > 1) <= 0.1 and np.all(score[40:] > 1)
    pos_new, score_new = kb.nearest_task(probe, index)
    assert pos_new[:40].tolist() == pos[:40].tolist() and not np.allclose(score_new, score)
    # a retrained task gets a profile while the others keep the earlier rule: each its own
    mixed = dict(legacy, tasks={"a": legacy["tasks"]["a"], "b": section["tasks"]["b"]})
    pos_mix, score_mix = kb.nearest_task(probe, {"task_groups": groups, "market": mixed})
    assert pos_mix[:40].tolist() == pos[:40].tolist()
    assert np.allclose(score_mix[:20], score[:20]) and np.allclose(score_mix[20:40], score_new[20:40])
    assert np.all(score_mix[40:] > 1)
