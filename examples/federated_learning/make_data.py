"""Writes the three edge datasets of this example (run once; the files are committed).

Each line of ``data/<edge>/train.txt`` is ``<index into sklearn's digits> <label>``: the images
themselves ship with scikit-learn, the index files say which edge node holds which samples.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).parent
EDGES = ("edge1", "edge2", "edge3")

if __name__ == "__main__":
    digits = load_digits()
    order = np.random.default_rng(7).permutation(len(digits.target))
    test, train = order[:300], order[300:]
    for i, edge in enumerate(EDGES):
        part = train[i :: len(EDGES)]
        out = HERE / "data" / edge
        out.mkdir(parents=True, exist_ok=True)
        (out / "train.txt").write_text("".join(f"{j} {digits.target[j]}\n" for j in part))
    (HERE / "data" / "test.txt").write_text("".join(f"{j} {digits.target[j]}\n" for j in test))
