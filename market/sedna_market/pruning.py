"""Selective ensembles of returned models, learned from a few labelled samples.

:class:`EnsemblePruningReuser` is learnware's MDEP reuser (Wu, He, Qian, Zhou, PPSN'22): a
multi-objective evolutionary search over subsets of the models, scored on the user's validation
data. learnware solves it with geatpy, which stops at Python 3.10; DEAP's NSGA-II / NSGA-III
selection does the same job here (numpy only).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from deap import base, tools

__all__ = ["EnsemblePruningReuser"]

Mode = Literal["classification", "regression"]


def _labels(output: Any, n: int) -> np.ndarray:
    """A model's class answer per sample (argmax of multi-column scores)."""
    arr = np.asarray(output)
    if arr.ndim > 1 and arr.shape[1] > 1:
        return arr.argmax(axis=1)
    return arr.reshape(n)


def _vote(labels: np.ndarray) -> np.ndarray:
    """Per-sample majority of ``labels`` (models x samples); ties go to the smallest label."""
    return np.array([np.bincount(col).argmax() for col in labels.T.astype(np.int64)])


class _Individual(list[int]):
    fitness: base.Fitness


class EnsemblePruningReuser:
    """Pick the subset of ``models`` whose vote (classification) or mean (regression) is best on
    labelled validation data, then predict with that subset.

    Objectives, all minimised, as learnware's reuser:

    - regression: (MSE of the subset's mean, subset size), NSGA-II;
    - multiclass: (margin ratio, errors, size), NSGA-II, where a sample's margin is the vote share
      of its true class minus the largest share of another class and the ratio is the margins'
      std / mean (small when the subset is right by a wide, even margin);
    - binary (labels mapped to ±1): (margin ratio, errors with ties counted 0.5, size), NSGA-III.

    The population has one individual per model (at least 8), seeded with the best single models;
    subsets of at most one model are mutated at random. The final choice is the subset with the
    least validation error, the smaller one on ties.
    """

    def __init__(self, models: Sequence[Any], mode: Mode = "classification") -> None:
        if not models:
            raise ValueError("need at least one model")
        if mode not in ("classification", "regression"):
            raise ValueError(f"mode must be 'classification' or 'regression', got {mode!r}")
        self.models = list(models)
        self.mode: Mode = mode
        self.selected: list[int] = list(range(len(self.models)))

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, val_X: Any, val_y: Any, maxgen: int = 500, random_state: int = 0) -> EnsemblePruningReuser:
        """Search the subset on ``(val_X, val_y)``; returns ``self``."""
        y = np.asarray(val_y).reshape(-1)
        n = len(y)
        if n == 0:
            raise ValueError("fit needs at least one labelled sample")
        if len(self.models) == 1:
            self.selected = [0]
            return self
        outputs = [np.asarray(m.predict(val_X)) for m in self.models]
        if self.mode == "regression":
            preds = np.stack([o.reshape(n, -1).astype(np.float64) for o in outputs])
            objectives = self._regression_objectives(preds, y.astype(np.float64).reshape(n, -1))
            select = tools.selNSGA2
        else:
            preds = np.stack([_labels(o, n) for o in outputs]).astype(np.int64)
            classes = np.unique(np.concatenate([y.astype(np.int64), preds.reshape(-1)]))
            if len(np.unique(y)) <= 2:
                objectives = self._binary_objectives(preds, y.astype(np.int64))
                points = tools.uniform_reference_points(3, p=4)
                select = lambda pop, k: tools.selNSGA3(pop, k, points)  # noqa: E731
            else:
                objectives = self._multiclass_objectives(preds, y.astype(np.int64), int(classes.max()) + 1)
                select = tools.selNSGA2
        self.selected = self._search(objectives, select, maxgen, random_state)
        return self

    @staticmethod
    def _regression_objectives(preds: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], tuple[float, ...]]:
        def score(mask: np.ndarray) -> tuple[float, ...]:
            mean = preds[mask].mean(axis=0)
            return float(np.mean((mean - y) ** 2)), float(mask.sum())

        return score

    @staticmethod
    def _multiclass_objectives(preds: np.ndarray, y: np.ndarray, n_classes: int) -> Callable[[np.ndarray], tuple[float, ...]]:
        onehot = np.eye(n_classes)[preds]  # models x samples x classes

        def score(mask: np.ndarray) -> tuple[float, ...]:
            share = onehot[mask].mean(axis=0)  # samples x classes
            own = share[np.arange(len(y)), y]
            others = share.copy()
            others[np.arange(len(y)), y] = -np.inf
            margin = own - others.max(axis=1)
            errors = float(np.sum(share.argmax(axis=1) != y))
            return _margin_ratio(margin), errors, float(mask.sum())

        return score

    @staticmethod
    def _binary_objectives(preds: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], tuple[float, ...]]:
        positive = y.max()
        sign_y = np.where(y == positive, 1.0, -1.0)
        sign_p = np.where(preds == positive, 1.0, -1.0)

        def score(mask: np.ndarray) -> tuple[float, ...]:
            margin = sign_y * sign_p[mask].mean(axis=0)
            errors = float(np.sum(margin < 0) + 0.5 * np.sum(margin == 0))
            return _margin_ratio(margin), errors, float(mask.sum())

        return score

    def _search(
        self, objectives: Callable[[np.ndarray], tuple[float, ...]], select: Any, maxgen: int, seed: int
    ) -> list[int]:
        m = len(self.models)
        rng = random.Random(seed)
        n_obj = len(objectives(np.ones(m, dtype=bool)))
        fitness_cls = type("PruningFitness", (base.Fitness,), {"weights": (-1.0,) * n_obj})

        def individual(bits: Sequence[int]) -> _Individual:
            ind = _Individual(int(b) for b in bits)
            ind.fitness = fitness_cls()
            return ind

        def evaluate(ind: _Individual) -> None:
            while sum(ind) <= 1:  # learnware mutates subsets of at most one model at random
                ind[rng.randrange(m)] = 1
            ind.fitness.values = objectives(np.asarray(ind, dtype=bool))

        size = max(8, m)
        # seeds: each model alone (made into pairs by evaluate), then the whole set, then random
        singles = sorted(range(m), key=lambda i: objectives(np.eye(m, dtype=bool)[i])[1 if n_obj == 3 else 0])
        population = [individual(np.eye(m, dtype=int)[i]) for i in singles[:size - 1]]
        population.append(individual([1] * m))
        while len(population) < size:
            population.append(individual([rng.randint(0, 1) for _ in range(m)]))
        for ind in population:
            evaluate(ind)
        for _ in range(maxgen):
            offspring = [individual(ind) for ind in population]
            rng.shuffle(offspring)
            for a, b in zip(offspring[::2], offspring[1::2], strict=False):
                tools.cxUniform(a, b, 0.5)
            for ind in offspring:
                tools.mutFlipBit(ind, 1.0 / m)
                evaluate(ind)
            population = select(population + offspring, size)
        error_index = 1 if n_obj == 3 else 0
        best = min(population, key=lambda ind: (ind.fitness.values[error_index], sum(ind)))
        return [i for i, bit in enumerate(best) if bit]

    # -- prediction ------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Mean (regression) or majority vote (classification) of the selected models."""
        chosen = [self.models[i] for i in self.selected]
        outputs = [np.asarray(m.predict(X)) for m in chosen]
        n = len(outputs[0])
        if self.mode == "regression":
            return np.mean(np.stack([o.astype(np.float64) for o in outputs]), axis=0)
        return _vote(np.stack([_labels(o, n) for o in outputs]))


def _margin_ratio(margin: np.ndarray) -> float:
    mean = float(margin.mean())
    if mean <= 0:
        return float("inf") if mean < 0 else 1e9
    return float(margin.std() / mean)
