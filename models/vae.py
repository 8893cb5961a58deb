"""A small convolutional VAE with a low-dimensional latent and class-specific prior means:
the conditional diffusion's latent space (the public code's letters VAE: 8 / 16 channels,
16 hidden units, a 2-D latent, one prior mean per class).

Encoder: conv 3x3 stride 2 (``channels[0]``), conv 3x3 stride 2 (``channels[1]``), dense
``hidden``, then the posterior mean and log-variance (``latent``). Decoder: dense ``hidden``,
dense to the encoder's last feature map, then nearest-neighbour upsampling and 3x3 convs back
to the image; pixel logits (Bernoulli likelihood). Digital (the diffusion in its latent runs
on the chip).

The prior of class c is N(mu_c, I): :func:`class_prior_means` puts the class means evenly
on a circle (three classes: (2 sqrt 3, 2), (-2 sqrt 3, 2), (0, -4), the public code's), so
the latents of different classes separate.
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

__all__ = ["LatentVAE", "class_prior_means", "vae_loss"]


def class_prior_means(n_classes: int, radius: float = 4.0, latent: int = 2) -> jax.Array:
    """Prior means (n_classes, latent): evenly spaced on a circle of ``radius`` in the first two
    latent axes starting at 30 degrees (three classes: (2 sqrt 3, 2), (-2 sqrt 3, 2), (0, -4))."""
    angles = math.pi / 6 + 2 * math.pi * jnp.arange(n_classes) / n_classes
    means = jnp.zeros((n_classes, latent))
    return means.at[:, 0].set(radius * jnp.cos(angles)).at[:, 1].set(radius * jnp.sin(angles))


class LatentVAE(nn.Module):
    """Images (N, H, W, 1) in [0, 1] with (H, W) = ``image_size``, both divisible by 4."""

    image_size: tuple[int, int] = (12, 12)
    latent: int = 2
    channels: Sequence[int] = (8, 16)
    hidden: int = 16

    def setup(self):
        c1, c2 = self.channels
        self.enc1 = nn.Conv(c1, (3, 3), strides=2)
        self.enc2 = nn.Conv(c2, (3, 3), strides=2)
        self.enc_hidden = nn.Dense(self.hidden)
        self.posterior = nn.Dense(2 * self.latent)
        self.dec_hidden = nn.Dense(self.hidden)
        self.dec_map = nn.Dense((self.image_size[0] // 4) * (self.image_size[1] // 4) * c2)
        self.dec1 = nn.Conv(c1, (3, 3))
        self.dec2 = nn.Conv(1, (3, 3))

    def encode(self, images):
        """Posterior (mean, log-variance), each (N, latent)."""
        h = nn.relu(self.enc2(nn.relu(self.enc1(images))))
        h = nn.relu(self.enc_hidden(h.reshape((h.shape[0], -1))))
        mean, log_var = jnp.split(self.posterior(h), 2, axis=-1)
        return mean, log_var

    def decode(self, z):
        """Pixel logits (N, H, W, 1) of latents z (N, latent)."""
        height, width = self.image_size[0] // 4, self.image_size[1] // 4
        h = nn.relu(self.dec_hidden(z))
        h = nn.relu(self.dec_map(h)).reshape((-1, height, width, self.channels[1]))
        h = nn.relu(self.dec1(_upsample(h)))
        return self.dec2(_upsample(h))

    def __call__(self, images, key):
        """(logits (N, H, W, 1), mean, log-variance) with z = mean + exp(log_var / 2) eps."""
        mean, log_var = self.encode(images)
        z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
        return self.decode(z), mean, log_var


def _upsample(x):
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def vae_loss(logits, images, mean, log_var, prior_mean, kl_weight: float = 1.0) -> jax.Array:
    """Per-image Bernoulli negative log-likelihood (summed over pixels) plus ``kl_weight`` x
    KL(N(mean, exp(log_var)) || N(prior_mean, I)), averaged over the batch."""
    nll = jnp.sum(optax.sigmoid_binary_cross_entropy(logits, images), axis=(1, 2, 3))
    kl = 0.5 * jnp.sum(jnp.exp(log_var) + (mean - prior_mean) ** 2 - 1.0 - log_var, axis=-1)
    return jnp.mean(nll + kl_weight * kl)
