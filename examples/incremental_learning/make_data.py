"""Writes this example's files (run once; they are committed).

* ``model/base.json``: the model in service at the start, a softmax regression trained briefly on
  only 20 digits (~67 % accurate): the initial model and the deploy model;
* ``data/train.txt``: the Dataset's index, 900 labelled digits already collected at the edge
  (``<digit index> <label>``), so the train trigger (more than 500 new samples) fires at once;
* ``data/stream.txt``: the 200 digits the inference worker keeps answering.
"""

from pathlib import Path

import numpy as np
from interface import Estimator, digits

HERE = Path(__file__).parent

if __name__ == "__main__":
    x, y = digits()
    order = np.random.default_rng(5).permutation(len(y))
    base_idx, train_idx, stream_idx = order[:20], order[40:940], order[1500:1700]
    base = Estimator(epochs=20)
    base.train((x[base_idx], y[base_idx]))
    (HERE / "model").mkdir(exist_ok=True)
    base.save(str(HERE / "model" / "base.json"))
    (HERE / "data").mkdir(exist_ok=True)
    (HERE / "data" / "train.txt").write_text("".join(f"{i} {y[i]}\n" for i in train_idx))
    (HERE / "data" / "stream.txt").write_text("".join(f"{i} {y[i]}\n" for i in stream_idx))
    print("base model on the stream", base.evaluate((x[stream_idx], y[stream_idx])))
