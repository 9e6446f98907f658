"""Hetero market: search quality across feature spaces, engine cost, hetero reuse accuracy.

    .venv/bin/python bench/hetero.py                 # seeds 0 1 2
    .venv/bin/python bench/hetero.py --seeds 0

Data that ships with scikit-learn, no download. Three datasets (breast_cancer 30 columns, wine
13, diabetes 10) with human descriptions of their columns; each is standardised and split in two
sub-populations by k-means, so a market holds 6 "sources". Every source gives 2 models, each
seeing its own random ~55 % of the columns and half of the source's rows (12 models, 12 feature
spaces). Users come from the other half of the rows with yet another random column subset: the
right model for a user is one of its source's; the searcher sees only the semantic spec (with
the user's column descriptions) and the user's RKME.

- **search**: how often a model of the user's source ranks first (chance: 1/6), for the
  trained engine and for the same engine untrained (random weights);
- **reuse**: a breast_cancer model trained on 60 % of the columns, a user with another 60 %
  (partly overlapping) and few labels: accuracy of the user's own model, of the model after
  feature alignment (no labels), and of HeteroMapAlign (alignment + FeatureAugment on the labels).

``tests/market/test_hetero_*.py`` use the same builders and assert the bars this table shows.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "market"))

from sedna_market.spec.rkme import RKMETableSpec, generate_rkme_table_spec  # noqa: E402
from sedna_market.spec.semantic import SemanticSpec, generate_semantic_spec  # noqa: E402

DESCRIPTIONS: dict[str, list[str]] = {
    "breast_cancer": [
        f"{stat} {feat} of the cell nuclei in a breast mass biopsy image"
        for stat in ("mean", "standard error of the", "worst (largest)")
        for feat in ("radius", "texture (grey-scale variation)", "perimeter", "area", "smoothness",
                     "compactness", "concavity", "number of concave points", "symmetry", "fractal dimension")
    ],
    "wine": [
        "alcohol content of the wine", "malic acid content", "ash content", "alkalinity of the ash",
        "magnesium content", "total phenols", "flavanoids", "nonflavanoid phenols", "proanthocyanins",
        "colour intensity of the wine", "hue of the wine", "OD280/OD315 absorbance ratio of diluted wine",
        "proline amino acid content",
    ],
    "diabetes": [
        "age of the patient", "sex of the patient", "body mass index", "average blood pressure",
        "total serum cholesterol", "low-density lipoproteins", "high-density lipoproteins",
        "total cholesterol over HDL ratio", "log of serum triglycerides level", "blood sugar level",
    ],
}
DATASETS = tuple(DESCRIPTIONS)


def load(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Standardised features, target, and whether the task is regression."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = {"breast_cancer": load_breast_cancer, "wine": load_wine, "diabetes": load_diabetes}[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y, name == "diabetes"


def semantic(name: str, columns: np.ndarray, regression: bool, n_out: int, title: str = "") -> SemanticSpec:
    """A table semantic spec whose Input describes ``columns`` of dataset ``name``."""
    desc = {str(i): DESCRIPTIONS[name][c] for i, c in enumerate(columns)}
    return generate_semantic_spec(
        name=title or f"{name} model", description=f"a model of the {name} data", data_type="Table",
        task_type="Regression" if regression else "Classification", library_type="Scikit-learn",
        scenarios=["Health"], license="MIT",
        input_description={"Dimension": len(columns), "Description": desc},
        output_description={"Dimension": n_out, "Description": {}},
    )


@dataclass
class Party:
    """A model's or a user's side: its source, columns, rows and specs."""

    source: tuple[str, int]
    columns: np.ndarray
    X: np.ndarray
    y: np.ndarray
    semantic: SemanticSpec
    rkme: RKMETableSpec
    regression: bool
    n_classes: int


@dataclass
class Scenario:
    models: list[Party]
    users: list[Party]


def _subset(rng: np.random.Generator, d: int, frac: float) -> np.ndarray:
    return np.sort(rng.choice(d, size=max(3, int(round(frac * d))), replace=False))


def make_scenario(seed: int, models_per_source: int = 2, users_per_source: int = 2, frac: float = 0.55,
                  reduced_set_size: int = 40, groups: int = 2, disjoint: bool = False) -> Scenario:
    """The market (12 models) and the users (12 by default) of one seed."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    models, users = [], []
    for name in DATASETS:
        X, y, regression = load(name)
        n_out = 1 if regression else int(y.max()) + 1
        # disjoint: models see only columns of one half, users only of the other
        halves = np.array_split(rng.permutation(X.shape[1]), 2)
        labels = KMeans(groups, n_init=4, random_state=seed).fit_predict(X)
        for g in range(groups):
            rows = rng.permutation(np.nonzero(labels == g)[0])
            half = len(rows) // 2
            pools = {"model": rows[:half], "user": rows[half:]}
            for role, count in (("model", models_per_source), ("user", users_per_source)):
                for _ in range(count):
                    if disjoint:
                        half = halves[0] if role == "model" else halves[1]
                        cols = np.sort(half[_subset(rng, len(half), frac)])
                    else:
                        cols = _subset(rng, X.shape[1], frac)
                    idx = pools[role]
                    Xs = X[idx][:, cols]
                    spec = generate_rkme_table_spec(Xs, reduced_set_size=reduced_set_size, random_state=seed)
                    party = Party((name, g), cols, Xs, y[idx], semantic(name, cols, regression, n_out), spec,
                                  regression, n_out)
                    (models if role == "model" else users).append(party)
    return Scenario(models, users)


def engine_tables(models: list[Party]) -> list[tuple[np.ndarray, dict[str, str]]]:
    """What the market trains the engine on: each model's reduced points and descriptions."""
    assert all(m.semantic.Input is not None for m in models)
    return [(m.rkme.z2d, m.semantic.Input.Description) for m in models]  # type: ignore[union-attr]


def top1_hits(engine: Any, scen: Scenario) -> list[bool]:
    """For each user: does a model of its source rank first by MMD in the unified space?"""
    from sedna_market.hetero.engine import HeteroEngine

    assert isinstance(engine, HeteroEngine)
    mapped = [engine.hetero_mapping(m.rkme, m.semantic.Input.Description) for m in scen.models]  # type: ignore[union-attr]
    hits = []
    for u in scen.users:
        us = engine.hetero_mapping(u.rkme, u.semantic.Input.Description)  # type: ignore[union-attr]
        d = [us.dist(m) for m in mapped]
        hits.append(scen.models[int(np.argmin(d))].source == u.source)
    return hits


# -- reuse ------------------------------------------------------------------------------------
class ColumnModel:
    """A packaged-model stand-in: a fitted estimator over its own columns; a classifier returns
    class probabilities."""

    def __init__(self, model: Any, n_classes: int | None) -> None:
        self.model, self.n_classes = model, n_classes

    def predict(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        if self.n_classes is None:
            return np.asarray(self.model.predict(X))
        return np.asarray(self.model.predict_proba(X))


def reuse_case(seed: int, labels: int = 20, frac: float = 0.6) -> dict[str, float]:
    """Accuracies on breast_cancer: user-only model, aligned model alone, HeteroMapAlign."""
    from sklearn.linear_model import LogisticRegression

    from sedna_market.hetero.align import FeatureAlignLearnware, HeteroMapAlignLearnware

    X, y, _ = load("breast_cancer")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    model_rows, user_rows = order[: len(y) // 2], order[len(y) // 2 :]
    test_rows, train_rows = user_rows[: len(user_rows) // 2], user_rows[len(user_rows) // 2 :]
    mcols, ucols = _subset(rng, X.shape[1], frac), _subset(rng, X.shape[1], frac)
    model = ColumnModel(LogisticRegression(max_iter=1000).fit(X[model_rows][:, mcols], y[model_rows]), 2)
    model_rkme = generate_rkme_table_spec(X[model_rows][:, mcols], random_state=seed)
    user_all = X[train_rows][:, ucols]
    user_rkme = generate_rkme_table_spec(user_all, random_state=seed)
    lab = train_rows[np.concatenate([np.nonzero(y[train_rows] == c)[0][: labels // 2] for c in (0, 1)])]
    Xl, yl = X[lab][:, ucols], y[lab]
    Xt, yt = X[test_rows][:, ucols], y[test_rows]
    mdesc = [DESCRIPTIONS["breast_cancer"][c] for c in mcols]
    udesc = [DESCRIPTIONS["breast_cancer"][c] for c in ucols]

    def acc(pred: np.ndarray) -> float:
        p = np.asarray(pred)
        return float(np.mean((p.argmax(1) if p.ndim > 1 else p) == yt))

    own = LogisticRegression(max_iter=1000).fit(Xl, yl)
    aligned = FeatureAlignLearnware(model, model_rkme, model_descriptions=mdesc, seed=seed).align(
        user_rkme, user_descriptions=udesc)
    blind = FeatureAlignLearnware(model, model_rkme, seed=seed).align(user_rkme)
    full = HeteroMapAlignLearnware(model, model_rkme, mode="classification", model_descriptions=mdesc,
                                   seed=seed).align(user_rkme, Xl, yl, user_descriptions=udesc)
    return {
        "user only": acc(own.predict(Xt)),
        "aligned (MMD only)": acc(blind.predict(Xt)),
        "aligned (descriptions + MMD)": acc(aligned.predict(Xt)),
        "HeteroMapAlign (+labels)": acc(full.predict(Xt)),
    }


def main() -> None:
    from sedna_market.hetero.engine import HeteroEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-reuse", action="store_true")
    args = parser.parse_args()
    trained_hits, random_hits, train_s, map_ms = [], [], [], []
    for seed in args.seeds:
        scen = make_scenario(seed)
        engine = HeteroEngine(seed=seed)
        random_hits += top1_hits(engine, scen)  # also warms the text encoder
        start = time.perf_counter()
        engine.fit(engine_tables(scen.models))
        train_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        trained_hits += top1_hits(engine, scen)
        map_ms.append((time.perf_counter() - start) * 1000 / (len(scen.models) + len(scen.users)))
    n = len(trained_hits)
    print(f"hetero search, {n} users over seeds {args.seeds} (chance 1/6 = 0.167)")
    print("| engine | right source ranked first |")
    print("|---|---|")
    print(f"| trained (VPCL) | {np.mean(trained_hits):.3f} ({sum(trained_hits)}/{n}) |")
    print(f"| untrained (random weights) | {np.mean(random_hits):.3f} ({sum(random_hits)}/{n}) |")
    print(f"training on 12 models: {np.mean(train_s):.1f} s (mean), mapping one spec: {np.mean(map_ms):.1f} ms")
    if args.skip_reuse:
        return
    rows = [reuse_case(s) for s in args.seeds]
    print("\nhetero reuse, breast_cancer, 20 labels, accuracy (mean over seeds)")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    print("| " + " | ".join(f"{np.mean([r[k] for r in rows]):.3f}" for k in rows[0]) + " |")


if __name__ == "__main__":
    main()
