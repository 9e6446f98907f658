"""Writes this example's models and its inference stream (run once; the files are committed).

* ``model/little.json``: softmax regression on 150 digits (the edge model, ~89 % accurate on the stream);
* ``model/big.json``: a network with 32 hidden units on 1200 digits (the cloud model, ~94 %);
* ``data/stream.txt``: the 300 digits the edge worker infers, ``<digit index> <label>``.
"""

from pathlib import Path

import numpy as np
from interface import Estimator, digits

HERE = Path(__file__).parent

if __name__ == "__main__":
    x, y = digits()
    order = np.random.default_rng(11).permutation(len(y))
    little_idx, big_idx, stream_idx = order[:150], order[:1200], order[1200:1500]
    little = Estimator(epochs=150)
    little.train((x[little_idx], y[little_idx]))
    big = Estimator(hidden=32, epochs=600, lr=0.5)
    big.train((x[big_idx], y[big_idx]))
    (HERE / "model").mkdir(exist_ok=True)
    little.save(str(HERE / "model" / "little.json"))
    big.save(str(HERE / "model" / "big.json"))
    (HERE / "data").mkdir(exist_ok=True)
    (HERE / "data" / "stream.txt").write_text("".join(f"{i} {y[i]}\n" for i in stream_idx))
    test = (x[stream_idx], y[stream_idx])
    print("little", little.evaluate(test), "big", big.evaluate(test))
