"""An FL training worker run in a child process by the tests (spawned, so fully isolated)."""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

SENT: list[list[np.ndarray]] = []


class Shard:
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def num_examples(self) -> int:
        return len(self.x)


def run_client(env: dict[str, str], start: int, stop: int, out_path: str, data_path: str) -> None:
    os.environ.update(env)
    from sedna.core.federated_learning import FederatedLearning
    from tests.sdk_core.sdk_models import SoftmaxEstimator

    class Recording(SoftmaxEstimator):
        def get_weights(self) -> list[np.ndarray]:
            w = super().get_weights()
            SENT.append([a.copy() for a in w])
            return w

    data = np.load(data_path)  # the parent saved the digits: no sklearn import per process
    x, y = data["x"], data["y"]
    fl = FederatedLearning(estimator=Recording(epochs=3, seed=start), aggregation="FedAvg")
    result: Any = fl.train(Shard(x[start:stop], y[start:stop]))
    final = result.get_weights() if hasattr(result, "get_weights") else None
    SENT.pop()  # the call just above is not a round
    with open(out_path, "wb") as fh:
        pickle.dump({"sent": SENT, "final": final, "num_samples": stop - start}, fh)
