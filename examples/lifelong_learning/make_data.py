"""Writes this example's index files (run once; they are committed).

* ``data/train.txt``: the Dataset, 1000 labelled samples from two domains (tasks), ``plain``
  and ``inverted``: more than the train trigger's 500, so the first round starts at once;
* ``data/stream.txt``: what the inference worker sees: samples of both known domains, then a
  batch from the ``noisy`` domain that no task model was trained on (an unseen task).

Each line is ``<digit index> <label> <domain>`` (pixels: scikit-learn's digits, see interface.py).
"""

from pathlib import Path

import numpy as np
from interface import digits

HERE = Path(__file__).parent

if __name__ == "__main__":
    _, y = digits()
    order = np.random.default_rng(3).permutation(len(y))
    train = [(i, "plain") for i in order[:500]] + [(i, "inverted") for i in order[500:1000]]
    train = [train[k] for k in np.random.default_rng(4).permutation(len(train))]
    stream = [(i, "plain") for i in order[1200:1240]] + [(i, "inverted") for i in order[1240:1280]]
    stream += [(i, "noisy") for i in order[1280:1320]]
    (HERE / "data").mkdir(exist_ok=True)
    for name, rows in (("train.txt", train), ("stream.txt", stream)):
        (HERE / "data" / name).write_text("".join(f"{i} {y[i]} {d}\n" for i, d in rows))
