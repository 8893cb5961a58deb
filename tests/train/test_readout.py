"""The closed-form ridge read-out against numpy's least squares."""

import numpy as np
import pytest

from train.readout import NormalEquations, one_hot, ridge_fit, ridge_flops, ridge_solve


def _problem(seed=0, n=300, d=12, c=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))  # correlated features
    y = one_hot(rng.integers(0, c, n), c)
    return x, y


def test_ridge_solves_the_regularised_normal_equations():
    x, y = _problem()
    l2 = 3.0
    kernel, bias = ridge_fit(x, y, l2)
    # the same problem as ordinary least squares on rows augmented by sqrt(l2) I (bias unpenalised)
    a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    penalty = np.sqrt(l2) * np.eye(a.shape[1])[:-1]
    expected = np.linalg.lstsq(np.concatenate([a, penalty]), np.concatenate([y, np.zeros((len(penalty), 4))]),
                               rcond=None)[0]
    np.testing.assert_allclose(kernel, expected[:-1], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(bias, expected[-1], rtol=1e-8, atol=1e-10)


def test_small_l2_is_least_squares_and_batches_add_up():
    x, y = _problem(1)
    kernel, bias = ridge_fit(x, y, 1e-9)
    a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    np.testing.assert_allclose(np.concatenate([kernel, bias[None]]), np.linalg.lstsq(a, y, rcond=None)[0],
                               rtol=1e-5, atol=1e-8)
    batched = NormalEquations(12, 4)
    for i in range(0, len(x), 64):
        batched.add(x[i:i + 64], y[i:i + 64])
    np.testing.assert_allclose(ridge_solve(batched, 1e-9)[0], kernel, rtol=1e-8)
    assert batched.rows == len(x)


def test_bad_inputs_are_rejected():
    x, y = _problem()
    with pytest.raises(ValueError, match="l2 = 0"):
        ridge_fit(x, y, 0)
    with pytest.raises(ValueError, match="299 target rows"):
        NormalEquations(12, 4).add(x, y[:-1])
    with pytest.raises(ValueError, match="outside 0..2"):
        one_hot([0, 3], 3)
    assert ridge_flops(10, 3, 2) == 2 * 10 * 16 + 2 * 10 * 4 * 2 + 64 / 3 + 2 * 16 * 2
