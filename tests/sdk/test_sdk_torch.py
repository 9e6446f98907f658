"""TorchEstimator / TorchBackend: weights roundtrip, a training step, FedProx, hooks, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # installed in .venv; skipped only where torch is absent
from torch import nn  # noqa: E402

from sedna.algorithms.aggregation import AggClient, FedAvg  # noqa: E402
from sedna.backend import set_backend  # noqa: E402
from sedna.backend.torch import TorchBackend, TorchEstimator, TrainingHook, resolve_device  # noqa: E402


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def make_data(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    return x, y


def test_weights_roundtrip_includes_buffers() -> None:
    est = TorchEstimator(make_net(), device="cpu")
    weights = est.get_weights()
    names = list(est.model.state_dict())
    assert len(weights) == len(names) and all(isinstance(w, np.ndarray) for w in weights)
    assert weights[names.index("1.num_batches_tracked")].dtype == np.int64
    other = TorchEstimator(make_net(), device="cpu")
    new = [w + 1 if w.dtype.kind == "f" else w + 5 for w in weights]
    other.set_weights([w.tolist() for w in new])  # lists (JSON) are accepted
    for got, want in zip(other.get_weights(), new, strict=True):
        np.testing.assert_array_equal(got, want)
    weights[0][...] = 123.0  # get_weights returns copies
    assert not (est.get_weights()[0] == 123.0).any()
    with pytest.raises(ValueError, match="expected shape"):
        other.set_weights([np.zeros((1, 1))] + new[1:])
    with pytest.raises(ValueError, match="arrays"):
        other.set_weights(new[:2])


def test_training_step_reduces_loss_and_hooks_run() -> None:
    x, y = make_data()
    calls: list[str] = []

    class Recorder(TrainingHook):
        def on_train_begin(self, estimator: TorchEstimator) -> None:
            calls.append("begin")

        def on_batch_end(self, estimator: TorchEstimator, epoch: int, batch: int, loss: float) -> None:
            calls.append("batch")

        def on_epoch_end(self, estimator: TorchEstimator, epoch: int, logs: dict[str, float]) -> None:
            calls.append("epoch")
            if epoch == 4:
                estimator.stop_training = True

    est = TorchEstimator(
        make_net(),
        optimizer=lambda p: torch.optim.Adam(p, lr=0.05),
        epochs=20,
        batch_size=32,
        device="cpu",
        hooks=[Recorder()],
    )
    before = est.evaluate((x, y))["loss"]
    history = est.train((x, y), valid_data=(x, y))
    after = est.evaluate((x, y))
    assert len(history["loss"]) == 5  # the hook stopped training after epoch index 4
    assert after["loss"] < before and after["accuracy"] > 0.6
    assert calls.count("begin") == 1 and calls.count("epoch") == 5 and calls.count("batch") == 15
    assert len(history["val_accuracy"]) == 5
    proba = est.predict_proba(x[:7])
    assert proba.shape == (7, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_fedprox_term_keeps_weights_closer() -> None:
    x, y = make_data()
    drift: dict[float, float] = {}
    for mu in (0.0, 10.0):
        est = TorchEstimator(make_net(), lr=0.1, epochs=3, batch_size=16, device="cpu", shuffle=False, mu=mu)
        start = [p.detach().clone() for p in est.model.parameters()]
        est.train((x, y))
        drift[mu] = float(sum(torch.sum((p.detach() - s) ** 2) for p, s in zip(est.model.parameters(), start, strict=True)))
    assert drift[10.0] < drift[0.0]


def test_proximal_term_value() -> None:
    """Hand-computed SGD steps with loss = w·x (x = 1, so d loss/dw = 1), lr 0.5, mu 1.

    w_global = 2 (the weights when train starts).
    step 1: grad = 1 + mu·(2 - 2) = 1       -> w = 2 - 0.5·1 = 1.5
    step 2: grad = 1 + mu·(1.5 - 2) = 0.5   -> w = 1.5 - 0.5·0.5 = 1.25   (1.0 without FedProx)
    """

    def run(mu: float) -> float:
        model = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            model.weight.fill_(2.0)
        est = TorchEstimator(
            model, loss_fn=lambda out, _t: out.sum(), lr=0.5, device="cpu", mu=mu, batch_size=1, shuffle=False
        )
        est.train((np.ones((2, 1), np.float32), np.zeros((2, 1), np.float32)))
        return float(model.weight.detach())

    assert run(1.0) == pytest.approx(1.25)
    assert run(0.0) == pytest.approx(1.0)


def test_fedavg_of_torch_clients_and_save_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = make_data()
    a = TorchEstimator(make_net(), device="cpu")
    b = TorchEstimator(make_net(), device="cpu")
    b.train((x, y))
    avg = FedAvg().aggregate([AggClient(1, a.get_weights()), AggClient(3, b.get_weights())])
    a.set_weights(avg)
    first = a.get_weights()[0]
    np.testing.assert_allclose(first, 0.25 * make_net().state_dict()["0.weight"].numpy() + 0.75 * b.get_weights()[0],
                               rtol=1e-5, atol=1e-6)
    monkeypatch.setenv("BACKEND_TYPE", "TORCH")
    monkeypatch.setenv("MODEL_URL", str(tmp_path / "m"))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("MODEL_NAME", raising=False)
    backend = set_backend(a)
    assert isinstance(backend, TorchBackend)
    path = backend.save()
    assert path == str(tmp_path / "m" / "model_finetune_pytorch.pth")
    fresh = set_backend(make_net())  # a bare module is wrapped in TorchEstimator
    fresh.load(path)
    for got, want in zip(fresh.get_weights(), a.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(fresh.predict(x[:4]), a.predict(x[:4]), rtol=1e-6)


def test_device_selection() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(None, use_cuda=False).type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_step() -> None:
    x, y = make_data()
    est = TorchEstimator(make_net(), device="cuda", epochs=2)
    est.train((x, y))
    assert next(est.model.parameters()).is_cuda
    weights = est.get_weights()
    est.set_weights(weights)
    assert est.evaluate((x, y))["loss"] > 0


def test_optimizer_state_survives_save_and_load(tmp_path: Path) -> None:
    # fine-tuning in the next IL round (another process) continues Adam's moments
    torch.manual_seed(0)

    def build() -> TorchEstimator:
        return TorchEstimator(nn.Linear(4, 3), optimizer=lambda p: torch.optim.Adam(p, lr=0.01), epochs=2)

    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    y = np.arange(32) % 3
    first = build()
    first.train((x, y))
    path = first.save(str(tmp_path / "model.pth"))
    assert Path(path + ".optimizer").is_file()
    assert set(torch.load(path, weights_only=True)) == {"weight", "bias"}  # still a plain state_dict
    second = build()
    second.load(path)
    before = first.optimizer.state_dict()["state"]
    after = second.optimizer.state_dict()["state"]
    assert after and int(after[0]["step"]) == int(before[0]["step"])
    assert torch.allclose(after[0]["exp_avg"], before[0]["exp_avg"])
    assert second.optimizer.param_groups[0]["lr"] == 0.01
