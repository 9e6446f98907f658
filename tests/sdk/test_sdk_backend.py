"""set_backend selection, the generic backend, and the scikit-learn adapter on digits."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sedna.backend import BackendBase, set_backend
from sedna.backend.sklearn import SklearnBackend, SklearnEstimator
from sedna.backend.tensorflow import TFBackend
from sedna.datasources import BaseDataSource


class SednaStyleEstimator:
    """A user estimator with Sedna's interface, as in Sedna's examples."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor
        self.loaded_from: str | None = None

    def train(self, train_data: Any, valid_data: Any = None, **kwargs: Any) -> dict[str, float]:
        return {"trained": float(len(train_data.x))}

    def predict(self, data: Any, **kwargs: Any) -> Any:
        return np.asarray(data) * self.factor

    def evaluate(self, valid_data: Any, **kwargs: Any) -> dict[str, float]:
        return {"acc": 0.5}

    def save(self, model_path: str) -> str:
        Path(model_path).write_text(str(self.factor))
        return model_path

    def load(self, model_url: str = "") -> None:
        self.loaded_from = model_url
        self.factor = float(Path(model_url).read_text())


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key in ("BACKEND_TYPE", "CUDA_VISIBLE_DEVICES", "DEVICE_CATEGORY", "MODEL_URL", "MODEL_NAME"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_selection_by_backend_type(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set_backend(None) is None
    _env(monkeypatch)
    assert type(set_backend(SednaStyleEstimator)) is TFBackend  # Sedna's default, no TF needed
    _env(monkeypatch, BACKEND_TYPE="sklearn")
    assert type(set_backend(SednaStyleEstimator)) is SklearnBackend
    _env(monkeypatch, BACKEND_TYPE="SOMETHING")
    backend = set_backend(SednaStyleEstimator)
    assert type(backend) is BackendBase and not backend.use_cuda
    _env(monkeypatch, BACKEND_TYPE="SOMETHING", CUDA_VISIBLE_DEVICES="0")
    backend = set_backend(SednaStyleEstimator)
    assert backend.use_cuda
    import os

    assert os.environ["DEVICE_CATEGORY"] == "GPU"
    _env(monkeypatch, CUDA_VISIBLE_DEVICES="-1")
    assert not set_backend(SednaStyleEstimator).use_cuda


def test_generic_backend_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, BACKEND_TYPE="OTHER", MODEL_URL=str(tmp_path / "out" / "model.txt"))
    backend = set_backend(SednaStyleEstimator)  # a class: built on first use
    data = BaseDataSource("train")
    data.x, data.y = np.arange(4), np.arange(4)
    assert backend.train(data, epochs=3) == {"trained": 4.0}  # epochs filtered out
    assert backend.predict([1, 2]).tolist() == [2.0, 4.0]
    assert backend.predict_proba([1]).tolist() == [2.0]  # falls back to predict
    assert backend.evaluate(data) == {"acc": 0.5}
    saved = backend.save()
    assert saved == str(tmp_path / "out" / "model.txt") and Path(saved).read_text() == "2.0"
    fresh = set_backend(SednaStyleEstimator(factor=9.0))
    fresh.load(saved)
    assert fresh.estimator.loaded_from == saved and fresh.predict([1]).tolist() == [2.0]
    with pytest.raises(TypeError, match="get_weights"):
        fresh.get_weights()


def test_model_info(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PATH_PREFIX", "/home/data")
    backend = BackendBase(SednaStyleEstimator())
    info = backend.model_info("/home/data/models/m.pkl", result={"acc": 0.9})
    assert info == [{"format": "pkl", "url": "/models/m.pkl", "metrics": {"acc": 0.9}}]
    pb = backend.model_info("/home/data/m/saved.pb", relpath="/home/data")
    assert pb[1] == {"format": "ckpt", "url": "/m", "metrics": None}
    assert backend.model_name == "model_finetune_.pkl"


@pytest.fixture
def one_blas_thread() -> Iterator[None]:
    """BLAS threads spinning on a busy 2-core machine make a 0.1 s fit take 8 s."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.mark.usefixtures("one_blas_thread")
def test_sklearn_digits_train_evaluate_save_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    x, y = load_digits(return_X_y=True)
    train, test = BaseDataSource("train"), BaseDataSource("eval")
    train.x, train.y, test.x, test.y = x[:1400], y[:1400], x[1400:], y[1400:]
    _env(monkeypatch, BACKEND_TYPE="SKLEARN", MODEL_URL=str(tmp_path / "digits.pkl"))
    backend = set_backend(LogisticRegression(max_iter=500))  # a bare model gets wrapped
    assert backend.train(train) == {}
    metrics = backend.evaluate(test)
    assert metrics["accuracy"] > 0.9
    proba = backend.predict_proba(test.x[:5])
    assert proba.shape == (5, 10) and np.allclose(proba.sum(axis=1), 1.0)
    path = backend.save()
    assert path == str(tmp_path / "digits.pkl") and Path(path).is_file()
    restored = set_backend(SklearnEstimator(LogisticRegression))
    restored.load(path)
    assert (restored.predict(test.x) == backend.predict(test.x)).all()
    assert restored.evaluate(test, metric="f1_score", average="macro")["f1_score"] > 0.9
    info = restored.model_info(path, relpath=str(tmp_path), result=metrics)
    assert info == [{"format": "pkl", "url": "/digits.pkl", "metrics": metrics}]
    weights = backend.get_weights()
    assert [w.shape for w in weights] == [(10, 64), (10,)]
    restored.set_weights([np.zeros((10, 64)), np.zeros(10)])
    assert np.allclose(restored.predict_proba(test.x[:2]), 0.1)


def test_import_without_torch() -> None:
    """``import sedna`` and the non-torch backends work when torch cannot be imported."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers'):\n"
        "            raise ImportError('torch blocked for this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import sedna, sedna.backend, sedna.algorithms.hard_example_mining as h\n"
        "import sedna.algorithms.aggregation, sedna.datasources, sedna.common.file_ops\n"
        "from sedna.backend import set_backend\n"
        "from sedna.common.class_factory import ClassFactory\n"
        "from sedna.backend.sklearn import SklearnEstimator\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "import os; os.environ['BACKEND_TYPE'] = 'SKLEARN'\n"
        "b = set_backend(SklearnEstimator(DecisionTreeClassifier()))\n"
        "b.train(([[0], [1]], [0, 1])); assert list(b.predict([[1]])) == [1]\n"
        "assert 'torch' not in sys.modules and 'BertRouter' not in ClassFactory.aliases('hard_example_mining')\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_fine_tuning_a_warm_start_model_really_trains() -> None:
    # MLPClassifier(warm_start=True) keeps the first fit's best_loss_, so without the backend's
    # fine-tune hook a second fit on new data stops after n_iter_no_change epochs (87% here).
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    backend = SklearnBackend(MLPClassifier(hidden_layer_sizes=(32,), warm_start=True, max_iter=200, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        backend.train(train_data=(x[:60], y[:60]))
        backend.train(train_data=(x[60:1200], y[60:1200]))
    model = backend.estimator.model
    assert model.n_iter_ > 50  # it kept training on the new data
    assert model.score(x[1200:], y[1200:]) > 0.9
