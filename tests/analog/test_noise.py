import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats as st

from analog import noise


def test_fast_normal_is_standard_normal():
    z = np.asarray(noise.normal(jax.random.PRNGKey(0), (200_000,)), np.float64)
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.std() - 1) < 5 / np.sqrt(2 * n)
    assert abs(st.kurtosis(z)) < 5 * np.sqrt(24 / n)
    assert st.kstest(z, "norm").pvalue > 1e-3


def test_fast_normal_keys_give_independent_reproducible_streams():
    a = noise.normal(jax.random.PRNGKey(1), (50_000,))
    b = noise.normal(jax.random.PRNGKey(2), (50_000,))
    np.testing.assert_array_equal(a, noise.normal(jax.random.PRNGKey(1), (50_000,)))
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(50_000)
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 5 / np.sqrt(50_000)
    assert noise.normal(jax.random.PRNGKey(3), (4, 5, 6)).shape == (4, 5, 6)


def test_extreme_hashes_give_finite_normals_and_open_interval_uniforms(monkeypatch):
    # the largest and smallest hash words map inside the open intervals; a grid
    # reaching 1 - 2^-25 rounds to 1 in float32 and erf_inv(1) = inf
    monkeypatch.setattr(noise, "_bits", lambda key, count: jnp.array([0, 2**32 - 1], jnp.uint32))
    key = jax.random.PRNGKey(0)
    z = noise.normal(key, (2,))
    u = noise.uniform(key, (2,))
    assert np.all(np.isfinite(z)) and np.allclose(z, [-5.42, 5.42], atol=0.01)
    assert np.all((u > 0) & (u < 1))
