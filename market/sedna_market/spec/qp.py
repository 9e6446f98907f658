"""The simplex-constrained QP used for RKME weights and mixture weights."""

from __future__ import annotations

import numpy as np
import qpsolvers
from scipy import sparse


def solve_simplex_qp(P: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, float]:
    """Solve ``min 1/2 w'Pw - c'w  s.t.  sum(w) = 1, w >= 0`` with Clarabel.

    Returns the weights and the objective value.  ``P`` is a kernel Gram matrix (PSD); a tiny
    ridge keeps the interior-point solver well conditioned when reduced points coincide.
    Falls back to uniform weights only if the solver reports no solution (should not happen for
    a PSD ``P``), so callers always get a point of the simplex.
    """
    n = int(c.shape[0])
    P = np.asarray(P, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if n == 1:
        w = np.ones(1)
        return w, float(0.5 * P[0, 0] - c[0])
    P_reg = 0.5 * (P + P.T) + 1e-12 * np.eye(n)
    problem = qpsolvers.Problem(
        P=sparse.csc_matrix(P_reg),
        q=-c,
        G=sparse.csc_matrix(-sparse.eye(n)),
        h=np.zeros(n),
        A=sparse.csc_matrix(np.ones((1, n))),
        b=np.ones(1),
    )
    solution = qpsolvers.solve_problem(problem, solver="clarabel")
    w = solution.x
    if w is None or not np.all(np.isfinite(w)):
        w = np.full(n, 1.0 / n)
    # Interior-point solutions sit a hair off the simplex: project back for exact sums.
    w = np.clip(w, 0.0, None)
    s = w.sum()
    w = w / s if s > 0 else np.full(n, 1.0 / n)
    obj = float(0.5 * w @ P @ w - c @ w)
    return w, obj
