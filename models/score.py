"""Score networks for diffusion on crossbars (the public code's ``MLP_noise`` / ``MLP_c`` layout).

:class:`ScoreMLP`: ``d -> hidden -> hidden -> d`` dense layers on crossbars (``AnalogDense``),
ReLU, a fixed random Fourier time embedding ``[sin(2 pi w t), cos(2 pi w t)]`` (``hidden / 2``
frequencies w ~ N(0, 1), fixed by ``embed_seed``, not trained) added to every hidden layer's
pre-activation, optionally a class embedding (one-hot -> Dense -> GELU -> Dense, digital: one
constant vector per class, applied as DAC voltages) added too, and the output times ``amp``.
Label -1 is the null class (zero class embedding), the unconditional score of classifier-free
guidance. On the chip the embeddings are input voltages summed into the hidden nodes.

Every hidden activation above ``saturation`` is sown into ``"losses"/"saturation"`` as its
excess (summed): the analogue-range penalty of noise-aware training (keeps the crossbar
outputs inside the op-amps' range).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog.crossbar import CrossbarSpec
from models.layers import AnalogDense

__all__ = ["ScoreMLP", "fourier_embedding", "saturation_penalty"]


def fourier_embedding(t, frequencies: jax.Array) -> jax.Array:
    """``[sin(2 pi w t), cos(2 pi w t)]`` of times ``t`` (...,) for frequencies w (k,): (..., 2k)."""
    phase = 2.0 * math.pi * jnp.asarray(t)[..., None] * frequencies
    return jnp.concatenate([jnp.sin(phase), jnp.cos(phase)], axis=-1)


class ScoreMLP(nn.Module):
    """Score ``s_theta(x, t[, label])`` (N, features) of states x (N, features) at model times t (N,).

    hidden: width of the hidden layers (even: the time embedding has hidden / 2 frequencies).
    depth: hidden layers. spec: crossbar of every dense layer. amp: output gain.
    n_classes: 0 unconditional; else labels (N,) int in [0, n_classes) or -1 (null class).
    saturation: activation level above which the excess is penalised (sown, see module doc).
    """

    features: int = 2
    hidden: int = 14
    depth: int = 2
    spec: CrossbarSpec = CrossbarSpec()
    amp: float = 5.0
    n_classes: int = 0
    embed_seed: int = 0
    saturation: float = 1.5

    @nn.compact
    def __call__(self, x, t, label=None):
        if self.hidden % 2:
            raise ValueError(f"ScoreMLP.hidden = {self.hidden} is invalid: allowed even widths (sin and cos pairs)")
        frequencies = jax.random.normal(jax.random.PRNGKey(self.embed_seed), (self.hidden // 2,))
        added = fourier_embedding(jnp.broadcast_to(t, x.shape[:-1]), frequencies)
        if self.n_classes:
            if label is None:
                raise ValueError("ScoreMLP: n_classes > 0 needs a label per sample (-1 for the null class)")
            onehot = jax.nn.one_hot(label, self.n_classes, dtype=x.dtype)  # -1 -> zeros: the null class
            added = added + nn.Dense(self.hidden, name="class_out")(
                nn.gelu(nn.Dense(self.hidden, name="class_in")(onehot))) * (label >= 0)[..., None]
        h = x
        excess = 0.0
        for i in range(self.depth):
            h = nn.relu(AnalogDense(self.hidden, spec=self.spec, name=f"dense{i}")(h) + added)
            excess = excess + jnp.sum(nn.relu(h - self.saturation))
        self.sow("losses", "saturation", excess)
        return self.amp * AnalogDense(self.features, spec=self.spec, name="out")(h)


def saturation_penalty(losses: dict) -> jax.Array:
    """The summed ``"saturation"`` entries of a ``"losses"`` collection (0 if none)."""
    leaves = [jnp.sum(jnp.asarray(v)) for path, v in jax.tree_util.tree_flatten_with_path(losses)[0]]
    return sum(leaves) if leaves else jnp.zeros(())
