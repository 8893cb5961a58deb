"""The diffusion experiments' data and metrics: ring, rendered letters, histogram KL, the latent VAE."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.vae import LatentVAE, class_prior_means, vae_loss
from train.data import DataError
from train.data.diffusion2d import load_letters, render_letters, ring
from train.loop import histogram_kl


def test_ring_radius_and_angle_follow_the_public_code():
    x = ring(20_000, 0.7, 0.04, seed=0)
    r, angle = np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 1], x[:, 0])
    assert abs(r.mean() - 0.7) < 5 * 0.04 / math.sqrt(len(r)) and abs(r.std() - 0.04) < 0.002
    counts, _ = np.histogram(angle, bins=8, range=(-np.pi, np.pi))
    assert counts.min() > 0.9 * len(x) / 8  # uniform in angle
    np.testing.assert_array_equal(x, ring(20_000, 0.7, 0.04, seed=0))


def test_letters_are_distinct_classes_in_range():
    x, y = render_letters(200, "HKU", 12, seed=0)
    assert x.shape == (600, 12, 12) and list(y[:6]) == [0, 1, 2, 0, 1, 2]
    assert x.min() >= 0.0 and x.max() <= 1.0 and 0.15 < x.mean() < 0.5
    x_test, y_test = render_letters(100, "HKU", 12, seed=1)
    centroids = np.stack([x[y == c].mean(0) for c in range(3)])
    d = ((x_test[:, None] - centroids[None]) ** 2).sum((2, 3))
    assert np.mean(d.argmin(1) == y_test) > 0.9  # even a nearest-mean reader tells them apart
    h = x[y == 0].mean(0)
    assert h[5:7, 5:7].mean() > h[1:3, 5:7].mean()  # H has its bar in the middle, not at the top
    ds = load_letters(10, 5, seed=0)
    assert ds.x_train.shape == (30, 12, 12, 1) and ds.n_classes == 3


def test_letters_reject_unknown_letters_and_sizes():
    with pytest.raises(DataError, match="letters = 'HQ'"):
        render_letters(2, "HQ")
    with pytest.raises(DataError, match="size = 2"):
        render_letters(2, "HK", size=2)


def test_histogram_kl_is_zero_for_equal_sets_and_counts_mass_outside_the_box():
    a = jnp.asarray(ring(5000, seed=0))
    assert float(histogram_kl(a, a)) == pytest.approx(0.0, abs=1e-6)
    shifted = a + jnp.array([0.3, 0.0])
    assert float(histogram_kl(shifted, a)) > 1.0
    outside = a * 10.0  # every point leaves the box: one bin holding all the mass
    assert float(histogram_kl(outside, a)) > 5.0
    b = jnp.asarray(ring(5000, seed=1))
    assert 0.0 < float(histogram_kl(b, a)) < 0.2  # two samples of one ring: the finite-sample floor
    batched = jax.vmap(lambda s: histogram_kl(s, a))(jnp.stack([a, b]))
    np.testing.assert_allclose(batched, [histogram_kl(a, a), histogram_kl(b, a)], rtol=1e-5, atol=1e-6)


def test_class_priors_and_the_vae_loss():
    means = np.asarray(class_prior_means(3))
    np.testing.assert_allclose(means, [[2 * math.sqrt(3), 2], [-2 * math.sqrt(3), 2], [0, -4]], atol=1e-5)
    vae = LatentVAE()
    images = jnp.asarray(render_letters(2, "HKU")[0][..., None])
    params = vae.init(jax.random.PRNGKey(0), images, jax.random.PRNGKey(1))
    logits, mean, log_var = vae.apply(params, images, jax.random.PRNGKey(2))
    assert logits.shape == images.shape and mean.shape == (6, 2)
    # KL term vanishes when the posterior is the prior; the likelihood term is the BCE
    zero = jnp.zeros((6, 2))
    loss_at_prior = vae_loss(logits, images, zero, zero, zero, kl_weight=1.0)
    loss_no_kl = vae_loss(logits, images, mean, log_var, zero, kl_weight=0.0)
    assert float(loss_at_prior) == pytest.approx(float(loss_no_kl), rel=1e-6)
