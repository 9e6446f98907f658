"""Hetero reuse: use a model whose features differ from the user's.

:class:`FeatureAlignLearnware` learns a map ``f`` from the user's feature space to the model's by
minimising the weighted squared MMD between the mapped user reduced points ``(f(z_u), beta_u)``
and the model's RKME ``(z_m, beta_m)`` (Gaussian kernel, the model spec's gamma); ``predict(X)``
is ``model.predict(f(X))``. Only the two specifications are needed, never the model's data.

An MMD match alone says nothing about *which* user column plays which model column. When both
sides describe their columns (``Input.Description``), the map starts from a linear
correspondence built from the sentence similarity of the descriptions (a column the user also
has is copied; a column without a close match starts at zero), and a small MLP learns the
residual. Without descriptions the map is learnware's: an MLP from a random start.

:class:`HeteroMapAlignLearnware` adds output alignment when labelled data is given: a
:class:`~sedna_market.augment.FeatureAugmentReuser` over the aligned model on the user's labels.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..augment import FeatureAugmentReuser
from ..spec.rkme import RKMETableSpec
from .engine import _descriptions_for, torch_threads

Descriptions = Mapping[str, str] | Sequence[str] | None

#: cosine similarity of two column descriptions above which they are taken as the same column
MATCH_THRESHOLD = 0.8


def description_correspondence(user: Sequence[str], model: Sequence[str], encoder: Any = None,
                               threshold: float = MATCH_THRESHOLD) -> np.ndarray:
    """(model_dim, user_dim) matrix: row ``j`` copies the user column most similar to model
    column ``j`` when their descriptions' cosine similarity reaches ``threshold``, else zero."""
    if encoder is None:
        from ..encoders.text import encode as encoder
    vecs = np.asarray(encoder(list(user) + list(model)), dtype=np.float64)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True) + 1e-12
    sim = vecs[len(user):] @ vecs[: len(user)].T
    A = np.zeros_like(sim)
    best = sim.argmax(axis=1)
    for j, i in enumerate(best):
        if sim[j, i] >= threshold:
            A[j, i] = 1.0
    return A


class FeatureAlignModel(nn.Module):
    """``f(x) = A x + MLP(x)``: a fixed-start linear correspondence plus a learned residual."""

    def __init__(self, user_dim: int, model_dim: int, hidden: Sequence[int] = (128,),
                 init: np.ndarray | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(user_dim, model_dim, bias=True)
        layers: list[nn.Module] = []
        width = user_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        last = nn.Linear(width, model_dim)
        layers.append(last)
        self.mlp = nn.Sequential(*layers)
        if init is not None:
            with torch.no_grad():
                self.linear.weight.copy_(torch.as_tensor(init, dtype=torch.float32))
                self.linear.bias.zero_()
                # start exactly at the correspondence; training moves away only where MMD says so
                last.weight.zero_()
                last.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


def _kernel(a: torch.Tensor, b: torch.Tensor, gamma: float) -> torch.Tensor:
    return torch.exp(-gamma * torch.cdist(a, b).pow(2))


class FeatureAlignLearnware:
    """A model made usable on the user's features by an MMD-trained feature map.

    ``model`` has ``predict``; ``model_rkme`` is its specification. ``model_descriptions``
    (optional) are its ``Input.Description`` entries.
    """

    def __init__(self, model: Any, model_rkme: RKMETableSpec, *, model_descriptions: Descriptions = None,
                 hidden: Sequence[int] = (128,), lr: float = 1e-3, epochs: int = 200, seed: int = 0,
                 encoder: Any = None) -> None:
        self.model = model
        self.model_rkme = model_rkme
        self.model_descriptions = model_descriptions
        self.hidden = tuple(hidden)
        self.lr, self.epochs, self.seed = lr, epochs, seed
        self.encoder = encoder
        self.map: FeatureAlignModel | None = None
        self.losses: list[float] = []

    def align(self, user_rkme: RKMETableSpec, user_descriptions: Descriptions = None) -> FeatureAlignLearnware:
        """Learn the feature map from the user's RKME; returns ``self``."""
        du, dm = user_rkme.dim, self.model_rkme.dim
        init = None
        if user_descriptions is not None and self.model_descriptions is not None:
            init = description_correspondence(_descriptions_for(du, user_descriptions),
                                              _descriptions_for(dm, self.model_descriptions), self.encoder)
        gamma = self.model_rkme.gamma
        with torch_threads():
            torch.manual_seed(self.seed)
            fmap = FeatureAlignModel(du, dm, self.hidden, init)
            zu = torch.as_tensor(user_rkme.z2d, dtype=torch.float32)
            bu = torch.as_tensor(user_rkme.beta, dtype=torch.float32)
            zm = torch.as_tensor(self.model_rkme.z2d, dtype=torch.float32)
            bm = torch.as_tensor(self.model_rkme.beta, dtype=torch.float32)
            opt = torch.optim.Adam(fmap.parameters(), lr=self.lr)
            self.losses = []
            for _ in range(self.epochs):
                fz = fmap(zu)
                # squared MMD without the constant <model, model> term
                loss = bu @ _kernel(fz, fz, gamma) @ bu - 2.0 * bu @ _kernel(fz, zm, gamma) @ bm
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses.append(float(loss.detach()) + self.model_rkme.self_inner_prod())
            fmap.eval()
        self.map = fmap
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The user's rows in the model's feature space."""
        if self.map is None:
            raise RuntimeError("call align(user_rkme) before predict or transform")
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(X, dtype=np.float32).reshape(len(X), -1))
            return self.map(x).numpy().astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model.predict(self.transform(X)))


class HeteroMapAlignLearnware:
    """Feature alignment, then (with labels) output alignment by FeatureAugment."""

    def __init__(self, model: Any, model_rkme: RKMETableSpec, mode: Literal["classification", "regression"],
                 *, model_descriptions: Descriptions = None, **align_args: Any) -> None:
        self.mode = mode
        self.aligned = FeatureAlignLearnware(model, model_rkme, model_descriptions=model_descriptions, **align_args)
        self.reuser: FeatureAugmentReuser | None = None

    def align(self, user_rkme: RKMETableSpec, x_train: Any = None, y_train: Any = None,
              user_descriptions: Descriptions = None) -> HeteroMapAlignLearnware:
        """Align the features; fit the output stack when ``x_train``/``y_train`` are given."""
        self.aligned.align(user_rkme, user_descriptions)
        if x_train is None or y_train is None or len(x_train) == 0:
            warnings.warn("no labelled data: HeteroMapAlign uses feature alignment only", stacklevel=2)
            self.reuser = None
            return self
        self.reuser = FeatureAugmentReuser([self.aligned], mode=self.mode).fit(x_train, y_train)
        return self

    def predict(self, X: Any) -> np.ndarray:
        if self.reuser is None:
            return self.aligned.predict(X)
        return self.reuser.predict(X)


__all__ = ["FeatureAlignLearnware", "FeatureAlignModel", "HeteroMapAlignLearnware", "description_correspondence"]
