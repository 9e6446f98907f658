"""PyTorch adapter: ``TorchEstimator`` (Sedna's estimator interface over an ``nn.Module``)
and ``TorchBackend`` (``BACKEND_TYPE=TORCH``). Importing this module imports torch; the rest
of the SDK never does unless asked."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from sedna.backend.base import BackendBase
from sedna.backend.data import split_xy
from sedna.common.log import get_logger

__all__ = ["TorchEstimator", "TorchBackend", "TrainingHook", "resolve_device"]

LOG = get_logger("backend.torch")

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


def resolve_device(device: str | torch.device | None = None, use_cuda: bool | None = None) -> torch.device:
    """The explicit ``device`` when given (``"cuda"`` without a GPU is an error); otherwise
    CUDA when it is available and ``use_cuda`` is not ``False``, else the CPU."""
    if device is not None and str(device) != "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but CUDA is not available")
        return dev
    if use_cuda is False or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


class TrainingHook:
    """Training-loop callbacks; override any subset. ``logs`` holds the epoch's mean loss."""

    def on_train_begin(self, estimator: TorchEstimator) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, estimator: TorchEstimator, epoch: int) -> None:
        """Before each epoch."""

    def on_batch_end(self, estimator: TorchEstimator, epoch: int, batch: int, loss: float) -> None:
        """After each optimiser step."""

    def on_epoch_end(self, estimator: TorchEstimator, epoch: int, logs: dict[str, float]) -> None:
        """After each epoch; setting ``estimator.stop_training = True`` ends training."""

    def on_train_end(self, estimator: TorchEstimator, history: dict[str, list[float]]) -> None:
        """After the last epoch."""


class TorchEstimator:
    """Sedna's estimator interface over a PyTorch module.

    - ``model``: an ``nn.Module`` instance, or a class/factory called with no arguments.
    - ``loss_fn``: default ``nn.CrossEntropyLoss()``.
    - ``optimizer``: a factory ``params -> Optimizer``; default ``SGD(params, lr=lr)``. The
      optimiser is built once and kept across ``train`` calls (its state survives rounds).
    - ``epochs``, ``batch_size``: defaults of :meth:`train` (overridable per call).
    - ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``None``/``"auto"`` (CUDA if present).
    - ``mu``: FedProx proximal coefficient; when > 0 the loss gains
      ``mu/2 · ||w - w_global||²`` where ``w_global`` is the weights at the start of
      :meth:`train` (the global model the aggregator just sent).
    - ``hooks``: :class:`TrainingHook` objects (any object with some of its methods).

    Data: a ``DataLoader``, a torch ``Dataset``, a ``BaseDataSource``, an ``(x, y)`` pair of
    arrays/tensors, or bare x for prediction. Integer labels become ``long``.
    """

    def __init__(
        self,
        model: nn.Module | Callable[[], nn.Module],
        loss_fn: Callable[..., torch.Tensor] | None = None,
        optimizer: OptimizerFactory | None = None,
        lr: float = 0.01,
        epochs: int = 1,
        batch_size: int = 32,
        device: str | torch.device | None = None,
        mu: float = 0.0,
        hooks: Sequence[Any] | None = None,
        shuffle: bool = True,
    ) -> None:
        self.model: nn.Module = model if isinstance(model, nn.Module) else model()
        self.loss_fn = loss_fn or nn.CrossEntropyLoss()
        self.optimizer_factory: OptimizerFactory = optimizer or (lambda p: torch.optim.SGD(p, lr=float(lr)))
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.mu = float(mu)
        self.hooks = list(hooks or [])
        self.shuffle = shuffle
        self.device = resolve_device(device)
        self.model.to(self.device)
        self._optimizer: torch.optim.Optimizer | None = None
        self.stop_training = False

    # ----------------------------------------------------------------- data
    def _loader(self, data: Any, batch_size: int, shuffle: bool, labelled: bool) -> DataLoader:
        if isinstance(data, DataLoader):
            return data
        if isinstance(data, Dataset):
            return DataLoader(data, batch_size=batch_size, shuffle=shuffle)
        x, y = split_xy(data)
        tx = self._tensor(x, label=False)
        if labelled:
            if y is None:
                raise ValueError("training/evaluation data needs labels")
            return DataLoader(TensorDataset(tx, self._tensor(y, label=True)), batch_size=batch_size, shuffle=shuffle)
        return DataLoader(TensorDataset(tx), batch_size=batch_size, shuffle=False)

    @staticmethod
    def _tensor(value: Any, label: bool) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value
        arr = np.asarray(value)
        if arr.dtype.kind in "biu":
            return torch.as_tensor(arr, dtype=torch.long if label else torch.float32)
        return torch.as_tensor(arr.astype(np.float32, copy=False))

    def _hook(self, name: str, *args: Any) -> None:
        for hook in self.hooks:
            method = getattr(hook, name, None)
            if callable(method):
                method(self, *args)

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimiser (built on first use from the factory)."""
        if self._optimizer is None:
            self._optimizer = self.optimizer_factory(self.model.parameters())
        return self._optimizer

    # ------------------------------------------------------------- training
    def train(
        self,
        train_data: Any,
        valid_data: Any = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        mu: float | None = None,
        **kwargs: Any,
    ) -> dict[str, list[float]]:
        """Run the training loop; returns ``{"loss": [mean loss per epoch], ...}`` (plus the
        validation metrics per epoch when ``valid_data`` is given)."""
        epochs = int(epochs if epochs is not None else self.epochs)
        mu = float(mu if mu is not None else self.mu)
        loader = self._loader(train_data, int(batch_size or self.batch_size), self.shuffle, labelled=True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        anchor = [p.detach().clone() for p in params] if mu > 0 else None
        history: dict[str, list[float]] = {"loss": []}
        self.stop_training = False
        self._hook("on_train_begin")
        for epoch in range(epochs):
            self.model.train()
            self._hook("on_epoch_begin", epoch)
            total, count = 0.0, 0
            for batch_idx, (xb, yb) in enumerate(loader):
                xb, yb = xb.to(self.device), yb.to(self.device)
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.loss_fn(self.model(xb), yb)
                if anchor is not None:
                    prox = sum(torch.sum((p - a) ** 2) for p, a in zip(params, anchor, strict=True))
                    loss = loss + 0.5 * mu * prox
                loss.backward()
                self.optimizer.step()
                value = float(loss.detach())
                total += value * len(xb)
                count += len(xb)
                self._hook("on_batch_end", epoch, batch_idx, value)
            logs = {"loss": total / max(count, 1)}
            history["loss"].append(logs["loss"])
            if valid_data is not None:
                for key, val in self.evaluate(valid_data).items():
                    history.setdefault(f"val_{key}", []).append(val)
                    logs[f"val_{key}"] = val
            self._hook("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        self._hook("on_train_end", history)
        return history

    @torch.no_grad()
    def _forward(self, data: Any, batch_size: int | None = None) -> torch.Tensor:
        self.model.eval()
        loader = self._loader(data, int(batch_size or self.batch_size * 4), False, labelled=False)
        outs = [self.model(batch[0].to(self.device)).detach().cpu() for batch in loader]
        return torch.cat(outs) if outs else torch.empty(0)

    def predict(self, data: Any, batch_size: int | None = None, **kwargs: Any) -> np.ndarray:
        """Model outputs (logits for classifiers) as a numpy array."""
        return self._forward(data, batch_size).numpy()

    def predict_proba(self, data: Any, batch_size: int | None = None, **kwargs: Any) -> np.ndarray:
        """Softmax of the outputs over the last dimension."""
        return torch.softmax(self._forward(data, batch_size), dim=-1).numpy()

    @torch.no_grad()
    def evaluate(self, valid_data: Any, batch_size: int | None = None, **kwargs: Any) -> dict[str, float]:
        """``{"loss": mean loss}`` plus ``"accuracy"`` when the labels are class indices."""
        self.model.eval()
        loader = self._loader(valid_data, int(batch_size or self.batch_size * 4), False, labelled=True)
        total, correct, count = 0.0, 0, 0
        classify = True
        for xb, yb in loader:
            xb, yb = xb.to(self.device), yb.to(self.device)
            out = self.model(xb)
            total += float(self.loss_fn(out, yb)) * len(xb)
            count += len(xb)
            if classify and yb.dtype == torch.long and out.dim() == 2:
                correct += int((out.argmax(dim=1) == yb).sum())
            else:
                classify = False
        result = {"loss": total / max(count, 1)}
        if classify and count:
            result["accuracy"] = correct / count
        return result

    # -------------------------------------------------------------- weights
    def get_weights(self) -> list[np.ndarray]:
        """Copies of every ``state_dict`` entry (parameters and buffers), in order."""
        return [t.detach().cpu().numpy().copy() for t in self.model.state_dict().values()]

    @torch.no_grad()
    def set_weights(self, weights: Sequence[Any]) -> None:
        """Load arrays in :meth:`get_weights`' order (lists from JSON are accepted); each is
        cast to the existing tensor's dtype and device."""
        state = self.model.state_dict()
        if len(weights) != len(state):
            raise ValueError(f"expected {len(state)} arrays, got {len(weights)}")
        for (name, tensor), value in zip(state.items(), weights, strict=True):
            arr = np.asarray(value)
            if tuple(arr.shape) != tuple(tensor.shape):
                raise ValueError(f"{name}: expected shape {tuple(tensor.shape)}, got {arr.shape}")
            tensor.copy_(torch.as_tensor(arr).to(device=tensor.device, dtype=tensor.dtype))

    # ---------------------------------------------------------- persistence
    def save(self, model_path: str) -> str:
        """``torch.save`` of the ``state_dict``; returns ``model_path``.

        The optimiser's state (momentum, Adam moments) goes beside it as
        ``<model_path>.optimizer``, so that a later fine-tune (the next IL round, in another
        process) continues from it; the model file stays a plain ``state_dict``.
        """
        parent = os.path.dirname(model_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        torch.save(self.model.state_dict(), model_path)
        if self._optimizer is not None and self._optimizer.state:
            torch.save(self._optimizer.state_dict()["state"], optimizer_state_path(model_path))
        return model_path

    def load(self, model_url: str) -> TorchEstimator:
        """Load a ``state_dict`` saved by :meth:`save` (tensors only: ``weights_only``), and
        the optimiser state saved beside it when there is one."""
        state = torch.load(model_url, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state)
        sidecar = optimizer_state_path(model_url)
        if os.path.isfile(sidecar):
            saved = torch.load(sidecar, map_location=self.device, weights_only=True)
            # keep this run's hyperparameters (a fine-tune may use another lr); restore only the
            # per-parameter state
            current = self.optimizer.state_dict()
            current["state"] = saved
            try:
                self.optimizer.load_state_dict(current)
            except (ValueError, KeyError) as err:
                LOG.warning("optimiser state %s not restored: %s", sidecar, err)
        return self

    def prepare_finetune(self) -> None:
        """Nothing to forget: the optimiser (and its restored state) carries on."""


def optimizer_state_path(model_path: str) -> str:
    """Where :meth:`TorchEstimator.save` keeps the optimiser state of ``model_path``."""
    return f"{model_path}.optimizer"


class TorchBackend(BackendBase):
    """``BACKEND_TYPE=TORCH``: an ``nn.Module`` instance is wrapped in ``TorchEstimator``."""

    framework = "pytorch"

    def _wrap(self, estimator: Any) -> Any:
        if isinstance(estimator, nn.Module):
            return TorchEstimator(estimator, device="cuda" if self.use_cuda and torch.cuda.is_available() else None)
        return estimator
