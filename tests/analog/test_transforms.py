"""Kernel transforms: each maps every weight to a value its hardware allows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analog import transforms as T
from analog.device import RRAM

KERNEL = jax.random.normal(jax.random.PRNGKey(0), (3, 3, 6, 16))  # (k_h, k_w, C_in, C_out)


def test_ternary_takes_three_values_per_channel_with_the_twn_rule():
    q = np.asarray(T.Ternary()(KERNEL))
    w = np.asarray(KERNEL)
    for c in range(16):
        values = np.unique(q[..., c])
        alpha = values.max()
        np.testing.assert_allclose(values, [-alpha, 0.0, alpha], rtol=1e-6)
        delta = 0.7 * np.abs(w[..., c]).mean()
        np.testing.assert_array_equal(q[..., c] == 0, np.abs(w[..., c]) <= delta)
        np.testing.assert_allclose(alpha, np.abs(w[..., c])[np.abs(w[..., c]) > delta].mean(), rtol=1e-5)
    assert len(np.unique(np.asarray(T.Ternary(per_channel=False)(KERNEL)))) == 3


@pytest.mark.parametrize("levels, per_channel", [(2, False), (4, False), (16, True)])
def test_levels_take_the_values_a_pair_of_multilevel_cells_holds(levels, per_channel):
    q = np.asarray(T.Levels(levels, per_channel)(KERNEL))
    w_max = np.abs(np.asarray(KERNEL)).max(axis=(0, 1, 2) if per_channel else None)
    steps = q / w_max * (levels - 1)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)  # integer multiples of w_max / (levels - 1)
    assert np.abs(steps).max() <= levels - 1 + 1e-4
    assert np.abs(q - np.asarray(KERNEL)).max() <= 0.5 * w_max.max() / (levels - 1) * (1 + 1e-5)
    assert T.Levels.of_device(RRAM(levels=5)).levels == 5
    with pytest.raises(ValueError, match="continuous"):
        T.Levels.of_device(RRAM())


def test_low_rank_is_the_best_rank_r_approximation():
    q = np.asarray(T.LowRank(3)(KERNEL)).reshape(-1, 16)
    m = np.asarray(KERNEL).reshape(-1, 16)
    assert np.linalg.matrix_rank(q, tol=1e-4) == 3
    s = np.linalg.svd(m, compute_uv=False)
    np.testing.assert_allclose(np.linalg.norm(m - q), np.sqrt(np.sum(s[3:] ** 2)), rtol=1e-4)  # Eckart-Young


@pytest.mark.parametrize("structured", [False, True])
def test_prune_zeroes_the_smallest_weights_or_channels(structured):
    q = np.asarray(T.Prune(0.25, structured)(KERNEL))
    w = np.asarray(KERNEL)
    if structured:
        dead = np.all(q.reshape(-1, 16) == 0, axis=0)
        assert dead.sum() == 4
        norms = np.linalg.norm(w.reshape(-1, 16), axis=0)
        assert norms[dead].max() < norms[~dead].min()
        np.testing.assert_array_equal(q[..., ~dead], w[..., ~dead])
    else:
        assert (q == 0).mean() == pytest.approx(0.25, abs=1 / q.size)
        assert np.abs(w[q == 0]).max() < np.abs(w[q != 0]).min()


def test_gradients_are_straight_through_or_masked():
    ones = lambda t: jax.grad(lambda k: jnp.sum(t(k) * jnp.arange(k.size).reshape(k.shape)))(KERNEL)
    ramp = np.arange(KERNEL.size).reshape(KERNEL.shape)
    for t in (T.Ternary(), T.Levels(8), T.LowRank(2)):
        np.testing.assert_allclose(ones(t), ramp)  # identity inside the range
    kept = np.asarray(T.Prune(0.5)(KERNEL)) != 0
    np.testing.assert_allclose(ones(T.Prune(0.5)), ramp * kept)


def test_compose_and_validation():
    q = np.asarray(T.Compose((T.LowRank(2), T.Ternary()))(KERNEL))
    assert all(len(np.unique(q[..., c])) <= 3 for c in range(16))
    for bad, field in ((lambda: T.Levels(1), "levels"), (lambda: T.LowRank(0), "rank"),
                       (lambda: T.Prune(1.0), "fraction"), (lambda: T.Ternary(-0.1), "threshold"),
                       (lambda: T.Compose((3,)), "transforms")):
        with pytest.raises(ValueError, match=field):
            bad()
