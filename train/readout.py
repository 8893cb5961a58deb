"""Closed-form read-outs: the extreme-learning-machine path of the random-weight
networks (DEPLM). A frozen random network gives features; the linear read-out on
top of them is the ridge-regression solution, solved once in float64 on the host
instead of by gradient descent.

For features X (n, d), targets Y (n, c) (one-hot classes) and an L2 weight l2,
the read-out ``Y ~ X W + b`` minimises ``|X W + 1 b - Y|^2 + l2 |W|^2`` (the bias is
not penalised); with the augmented ``A = [X, 1]`` it solves the normal equations

    (A^T A + l2 diag(1, ..., 1, 0)) [W; b] = A^T Y.

``normal_equations`` accumulates ``A^T A`` and ``A^T Y`` over batches of rows (so
millions of per-point features never sit in one array), ``ridge_solve`` solves
them, ``ridge_fit`` does both for one array, and ``ridge_flops`` counts the
arithmetic of the whole path (the training cost of a closed-form read-out).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import scipy.linalg

__all__ = ["NormalEquations", "normal_equations", "ridge_solve", "ridge_fit", "one_hot", "ridge_flops"]


class NormalEquations:
    """Running sums ``gram = A^T A`` (d+1, d+1) and ``moment = A^T Y`` (d+1, c) in
    float64 over batches of rows, ``A = [X, 1]``; ``rows`` counts them."""

    def __init__(self, n_features: int, n_targets: int):
        self.gram = np.zeros((n_features + 1, n_features + 1))
        self.moment = np.zeros((n_features + 1, n_targets))
        self.rows = 0

    def add(self, features, targets) -> "NormalEquations":
        """Add rows: features (..., d) and targets (..., c) with the same leading shape."""
        x = np.asarray(features, np.float64).reshape(-1, self.gram.shape[0] - 1)
        y = np.asarray(targets, np.float64).reshape(-1, self.moment.shape[1])
        if len(x) != len(y):
            raise ValueError(f"NormalEquations.add: {len(x)} feature rows but {len(y)} target rows")
        a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
        self.gram += a.T @ a
        self.moment += a.T @ y
        self.rows += len(x)
        return self


def normal_equations(batches: Iterable[tuple], n_features: int, n_targets: int) -> NormalEquations:
    """``NormalEquations`` summed over (features, targets) batches."""
    equations = NormalEquations(n_features, n_targets)
    for features, targets in batches:
        equations.add(features, targets)
    return equations


def ridge_solve(equations: NormalEquations, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """(kernel (d, c), bias (c,)) float64 solving the regularised normal equations
    (Cholesky; ``l2`` > 0 keeps them positive definite)."""
    if not l2 > 0:
        raise ValueError(f"ridge_solve: l2 = {l2!r} is invalid: allowed > 0")
    if equations.rows == 0:
        raise ValueError("ridge_solve: no rows were added")
    penalty = np.full(equations.gram.shape[0], float(l2))
    penalty[-1] = 0.0  # the bias
    solution = scipy.linalg.solve(equations.gram + np.diag(penalty), equations.moment, assume_a="pos")
    return solution[:-1], solution[-1]


def ridge_fit(features, targets, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """The ridge read-out of features (n, d) onto targets (n, c): (kernel (d, c), bias (c,))."""
    features, targets = np.asarray(features), np.asarray(targets)
    return ridge_solve(NormalEquations(features.shape[-1], targets.shape[-1]).add(features, targets), l2)


def one_hot(labels, n_classes: int) -> np.ndarray:
    """float64 one-hot targets (..., n_classes) of integer labels (...)."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"one_hot: labels span [{labels.min()}, {labels.max()}], outside 0..{n_classes - 1}")
    return np.eye(n_classes)[labels]


def ridge_flops(rows: int, n_features: int, n_targets: int) -> float:
    """Floating-point operations of ``ridge_fit`` on ``rows`` rows: the Gram matrix and
    moments (2 per multiply-add, symmetric Gram counted in full), the Cholesky
    factorisation (d^3 / 3) and the two triangular solves per target (2 d^2 each)."""
    d = n_features + 1
    return float(2 * rows * d * d + 2 * rows * d * n_targets + d ** 3 / 3 + 2 * d * d * n_targets)
