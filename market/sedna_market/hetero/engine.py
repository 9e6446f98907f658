"""The heterogeneous engine: a small TransTab-style tabular transformer over numerical features.

Every table model's reduced points are re-encoded into one embedding space, whatever its
columns, so models (and users) from different feature spaces can be compared by RKME.

- **Column tokens.** A column is known by its description; descriptions are embedded with the
  packaged sentence model (:func:`sedna_market.encoders.text.encode`, 384-d, fixed) and projected
  to ``hidden_dim`` by a learned linear layer.  A cell is ``col_token * value + bias``, then a
  LayerNorm and a linear "align" layer; a learned CLS token is prepended.
- **Encoder.** ``num_layers`` pre-norm layers of multi-head self-attention and a gated
  feed-forward block ``W2 act((W1 x) * sigmoid(Wg x))``.
- **Output.** The CLS vector, L2-normalised and scaled by ``output_scale``: the spec kernel has a
  fixed ``gamma`` (0.1), so the embedding's scale is part of the design, not left to training.
- **Training** (:meth:`HeteroEngine.fit`): self-supervised vertical-partition contrastive learning
  (VPCL) on the market's RKME reduced points only, never raw data.  The columns of a batch are
  shuffled and split into ``num_partition`` contiguous groups overlapping by ``overlap_ratio``;
  the views of one row are positives, every other row's views negatives (a multi-view InfoNCE
  loss on normalised projections).

Differences from learnware's HeteroMap (on purpose): column names go through a pretrained
sentence model instead of BERT-tokenizer word embeddings learnt from scratch, so descriptions
never seen in training still land near their synonyms; the output has a fixed scale; the
contrastive temperature is 0.5 on cosine similarities; the default model is smaller (64 hidden,
2 layers) so that training on a few dozen models takes seconds on two CPU cores.
"""

from __future__ import annotations

import io
import math
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..spec.rkme import RKMETableSpec
from .spec import HeteroMapTableSpec

#: description given to a column the model's spec does not describe (learnware's wording)
UNKNOWN_FEATURE = "Unknown Feature"
#: checkpoint format version written into model.bin
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EngineConfig:
    """Shape of the transformer (saved with the weights)."""

    hidden_dim: int = 64
    num_layers: int = 2
    num_heads: int = 4
    ffn_dim: int = 128
    projection_dim: int = 64
    dropout: float = 0.0
    text_dim: int = 384
    #: norm of every output embedding (squared distances then lie in [0, 4 * scale**2])
    output_scale: float = 3.0


@dataclass(frozen=True)
class TrainConfig:
    """VPCL trainer settings."""

    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    num_partition: int = 2
    overlap_ratio: float = 0.5
    temperature: float = 0.5
    seed: int = 0


def _default_threads() -> int:
    """Torch threads for engine work: 1 unless ``SEDNA_MARKET_HETERO_THREADS`` says otherwise.
    The model is small: on a busy 2-core machine two threads made a training epoch 20x slower
    than one (measured), because every tiny matrix product waits for the other thread."""
    raw = os.environ.get("SEDNA_MARKET_HETERO_THREADS", "").strip()
    return max(1, int(raw)) if raw.isdigit() else 1


_thread_lock = threading.Lock()


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads and restore the process setting afterwards."""
    with _thread_lock:
        before = torch.get_num_threads()
        torch.set_num_threads(n or _default_threads())
        try:
            yield
        finally:
            torch.set_num_threads(before)


class _GatedFFN(nn.Module):
    def __init__(self, dim: int, ffn: int, dropout: float) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, ffn)
        self.gate = nn.Linear(dim, ffn, bias=False)
        self.w2 = nn.Linear(ffn, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.drop(torch.relu(self.w1(x) * torch.sigmoid(self.gate(x)))))


class _Layer(nn.Module):
    def __init__(self, cfg: EngineConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.hidden_dim)
        self.attn = nn.MultiheadAttention(cfg.hidden_dim, cfg.num_heads, dropout=cfg.dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(cfg.hidden_dim)
        self.ffn = _GatedFFN(cfg.hidden_dim, cfg.ffn_dim, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.ffn(self.norm2(x))


class TabularTransformer(nn.Module):
    """Numerical-feature TransTab: (rows, columns) + column text vectors -> CLS embedding."""

    def __init__(self, cfg: EngineConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden_dim
        self.col_proj = nn.Linear(cfg.text_dim, h)
        self.num_bias = nn.Parameter(torch.zeros(h))
        self.cell_norm = nn.LayerNorm(h)
        self.align = nn.Linear(h, h, bias=False)
        self.cls = nn.Parameter(torch.empty(1, 1, h))
        nn.init.kaiming_uniform_(self.cls, a=math.sqrt(5))
        self.layers = nn.ModuleList(_Layer(cfg) for _ in range(cfg.num_layers))
        self.out_norm = nn.LayerNorm(h)
        self.projection = nn.Linear(h, cfg.projection_dim, bias=False)

    def forward(self, values: torch.Tensor, col_vecs: torch.Tensor) -> torch.Tensor:
        """``values`` (B, C) floats, ``col_vecs`` (C, text_dim) -> CLS (B, hidden)."""
        col = self.col_proj(col_vecs)  # (C, h)
        cells = self.align(self.cell_norm(values.unsqueeze(-1) * col.unsqueeze(0) + self.num_bias))
        x = torch.cat([self.cls.expand(len(values), -1, -1), cells], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.out_norm(x[:, 0])

    def embed(self, values: torch.Tensor, col_vecs: torch.Tensor) -> torch.Tensor:
        """Unified-space embedding: the CLS vector at norm ``output_scale``."""
        return self.cfg.output_scale * nn.functional.normalize(self.forward(values, col_vecs), dim=-1)


def _descriptions_for(dim: int, descriptions: Mapping[str, str] | Sequence[str] | None) -> list[str]:
    """One description per column: ``descriptions[str(i)]`` (a mapping as in a semantic spec's
    ``Input.Description``) or ``descriptions[i]``; missing or blank ones are ``Unknown Feature``."""
    out = []
    for i in range(dim):
        text: object = None
        if isinstance(descriptions, Mapping):
            text = descriptions.get(str(i))
        elif descriptions is not None and i < len(descriptions):
            text = descriptions[i]
        out.append(text.strip() if isinstance(text, str) and text.strip() else UNKNOWN_FEATURE)
    return out


def _vpcl_loss(proj: torch.Tensor, n_views: int, temperature: float) -> torch.Tensor:
    """Multi-view InfoNCE: ``proj`` is (n_views * B, P) with view-major order."""
    z = nn.functional.normalize(proj, dim=-1)
    b = len(z) // n_views
    logits = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool)
    logits = logits.masked_fill(eye, -1e9)
    rows = torch.arange(len(z)) % b
    positive = (rows[:, None] == rows[None, :]) & ~eye
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -(log_prob * positive).sum(1).div(positive.sum(1)).mean()


def _partitions(n_cols: int, num_partition: int, overlap_ratio: float) -> list[slice]:
    """Contiguous column groups that overlap by ``overlap_ratio`` of a group's size."""
    if n_cols < 2:
        return [slice(0, n_cols)] * 2
    parts = max(2, min(num_partition, n_cols))
    size = math.ceil(n_cols / parts)
    extra = int(math.ceil(size * overlap_ratio))
    out = []
    for p in range(parts):
        lo = max(0, p * size - extra // 2)
        hi = min(n_cols, (p + 1) * size + extra - extra // 2)
        out.append(slice(lo, max(hi, lo + 1)))
    return out


class HeteroEngine:
    """The engine: column-text encoder + transformer, VPCL training, mapping and save/load.

    ``encoder`` maps a list of texts to unit vectors (default: the packaged sentence model); the
    vectors of every description seen are cached, so mapping a model costs one transformer pass.
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        encoder: object | None = None,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        torch.manual_seed(seed)
        self.model = TabularTransformer(self.config)
        self.model.eval()
        self._encoder = encoder
        self._text_cache: dict[str, np.ndarray] = {}
        self.threads = threads
        #: how many tables the current weights were trained on (0: untrained, random weights)
        self.trained_on = 0
        #: stamp of the weights: ``untrained-<seed>`` until :meth:`fit`, then a fresh random id
        self.engine_id = f"untrained-{seed}"
        self._lock = threading.Lock()

    # -- column text -------------------------------------------------------------------------
    def column_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """Sentence vectors of ``texts`` (cached)."""
        missing = sorted({t for t in texts if t not in self._text_cache})
        if missing:
            encode = self._encoder
            if encode is None:
                from ..encoders.text import encode as encode_text

                encode = encode_text
            vecs = np.asarray(encode(missing), dtype=np.float32)  # type: ignore[operator]
            if vecs.shape != (len(missing), self.config.text_dim):
                raise ValueError(f"the text encoder returned shape {vecs.shape}, expected ({len(missing)}, {self.config.text_dim})")
            self._text_cache.update(zip(missing, vecs, strict=True))
        return torch.from_numpy(np.stack([self._text_cache[t] for t in texts]))

    # -- mapping -----------------------------------------------------------------------------
    def embed(self, X: np.ndarray, descriptions: Mapping[str, str] | Sequence[str] | None, batch_size: int = 256) -> np.ndarray:
        """Unified-space embeddings of the rows of ``X`` (n, d), float64 (n, hidden_dim)."""
        X2 = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        cols = self.column_vectors(_descriptions_for(X2.shape[1], descriptions))
        # learnware bounds a batch by rows * columns; the same keeps memory flat on wide tables
        step = max(1, min(batch_size, 20_480 // max(1, X2.shape[1])))
        out = []
        with self._lock, torch_threads(self.threads), torch.no_grad():
            self.model.eval()
            for lo in range(0, len(X2), step):
                out.append(self.model.embed(torch.from_numpy(X2[lo : lo + step]), cols).numpy())
        if not out:
            return np.zeros((0, self.config.hidden_dim))
        return np.concatenate(out).astype(np.float64)

    def hetero_mapping(
        self, rkme: RKMETableSpec, descriptions: Mapping[str, str] | Sequence[str] | None, gamma: float = 0.1
    ) -> HeteroMapTableSpec:
        """A model's (or user's) RKME in the unified space: its reduced points embedded, the same
        weights ``beta``, a Gaussian kernel with ``gamma`` (0.1, learnware's)."""
        return HeteroMapTableSpec(self.embed(rkme.z2d, descriptions), rkme.beta.copy(), gamma, rkme.num_points)

    # -- training ----------------------------------------------------------------------------
    def fit(
        self,
        tables: Sequence[tuple[np.ndarray, Mapping[str, str] | Sequence[str] | None]],
        config: TrainConfig | None = None,
        reset: bool = True,
    ) -> list[float]:
        """VPCL on ``tables`` (reduced points ``z`` and their column descriptions); returns the
        mean loss of each epoch.  ``reset`` starts from fresh weights (seeded: the same tables
        give the same engine)."""
        cfg = config or TrainConfig()
        prepared = []
        for z, desc in tables:
            z2 = np.asarray(z, dtype=np.float32).reshape(len(z), -1)
            if len(z2) < 2:
                continue  # one point has no negatives
            prepared.append((torch.from_numpy(z2), self.column_vectors(_descriptions_for(z2.shape[1], desc))))
        if not prepared:
            raise ValueError("the hetero engine needs at least one table with two or more reduced points to train on")
        losses: list[float] = []
        with self._lock, torch_threads(self.threads):
            torch.manual_seed(cfg.seed)
            rng = np.random.default_rng(cfg.seed)
            if reset:
                self.model = TabularTransformer(self.config)
            model = self.model
            opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            model.train()
            for _ in range(cfg.epochs):
                batches = []
                for t, (table, _) in enumerate(prepared):
                    order = rng.permutation(len(table))
                    batches += [(t, order[lo : lo + cfg.batch_size]) for lo in range(0, len(table), cfg.batch_size)]
                rng.shuffle(batches)
                total = 0.0
                count = 0
                for t, rows in batches:
                    if len(rows) < 2:
                        continue
                    table, cols = prepared[t]
                    perm = torch.from_numpy(rng.permutation(table.shape[1]))
                    values, cvec = table[torch.from_numpy(rows)][:, perm], cols[perm]
                    views = [model.projection(model(values[:, part], cvec[part]))
                             for part in _partitions(table.shape[1], cfg.num_partition, cfg.overlap_ratio)]
                    loss = _vpcl_loss(torch.cat(views), len(views), cfg.temperature)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                    count += 1
                losses.append(total / max(1, count))
            model.eval()
        self.trained_on = len(prepared)
        self.engine_id = uuid.uuid4().hex
        return losses

    @property
    def trained(self) -> bool:
        return self.trained_on > 0

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the checkpoint (``model.bin``) atomically."""
        buf = io.BytesIO()
        torch.save(
            {
                "format": FORMAT_VERSION,
                "config": asdict(self.config),
                "state": self.model.state_dict(),
                "trained_on": self.trained_on,
                "engine_id": self.engine_id,
            },
            buf,
        )
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(target)

    @classmethod
    def load(cls, path: str | Path, *, encoder: object | None = None, threads: int | None = None) -> HeteroEngine:
        """Read a checkpoint written by :meth:`save` (tensors only: ``weights_only`` loading)."""
        try:
            data = torch.load(Path(path), map_location="cpu", weights_only=True)
            if data.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT_VERSION}")
            engine = cls(EngineConfig(**data["config"]), encoder=encoder, threads=threads)
            engine.model.load_state_dict(data["state"])
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a bad file; all mean the same
            raise ValueError(f"cannot load the hetero engine from {path}: {exc}; delete it to start over "
                             "(the market retrains on its next auto-update)") from exc
        engine.model.eval()
        engine.trained_on = int(data.get("trained_on", 0))
        engine.engine_id = str(data.get("engine_id", "unknown"))
        return engine
