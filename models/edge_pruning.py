"""The networks of the edge-pruning paper (Li, Wang et al., "Pruning random resistive
memory for optimizing analogue AI", arXiv 2311.07164), in two kinds:

* ``kind="weights"``: trained float weights on programmed arrays (``AnalogConv`` /
  ``AnalogDense``): the software network with ``spec.ideal()``, the paper's
  comparator (trained weights written onto noisy devices) with a programmed preset;
* ``kind="pruned"``: the random conductances forming leaves, edge-popup masks on
  them (``MaskedRandomConv`` / ``MaskedRandomDense``, top ``keep`` of |scores| per
  layer), pruned edges reading their RESET pair on hardware; with ``limit_flips``
  the mask on the chip follows the paper's reprogramming limiter
  (``models.layers.limited_mask``).

Both kinds quantize activations to ``bits`` (unsigned, per sample over
[0, max]) before every array, as the 40 nm macro drives its rows with
low-resolution inputs, and use non-affine batch normalisation, no biases.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog import converters
from analog.crossbar import CrossbarSpec
from models.layers import AnalogConv, AnalogDense, MaskedRandomConv, MaskedRandomDense

__all__ = ["KINDS", "quantize_activations", "FashionCNN"]

KINDS = ("weights", "pruned")


def quantize_activations(x: jax.Array, bits: int) -> jax.Array:
    """Unsigned ``bits``-bit activations: x >= 0 (e.g. after ReLU) rounded to
    ``2**bits`` levels over [0, max of the sample] (one range per leading index),
    straight-through."""
    hi = jnp.max(x, axis=tuple(range(1, x.ndim)), keepdims=True)
    hi = jax.lax.stop_gradient(jnp.maximum(hi, 1e-6))
    return converters.quantize_uniform(jnp.maximum(x, 0.0), bits, 0.0, hi)


class _Layers(nn.Module):
    """Factory of the two kinds' layers (a mixin: attributes kind, spec, keep, limit_flips)."""

    def _check(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{type(self).__name__}.kind = {self.kind!r} is invalid: allowed {KINDS}")

    def conv(self, features: int, kernel_size, strides=1, padding="VALID", name=None) -> Callable:
        if self.kind == "weights":
            return AnalogConv(features, kernel_size, strides, padding, spec=self.spec, use_bias=False, name=name)
        return MaskedRandomConv(features, kernel_size, strides, padding, spec=self.spec, keep=self.keep,
                                scale="none", limit_flips=self.limit_flips, name=name)

    def dense(self, features: int, name=None) -> Callable:
        if self.kind == "weights":
            return AnalogDense(features, spec=self.spec, use_bias=False, name=name)
        return MaskedRandomDense(features, spec=self.spec, keep=self.keep, scale="none",
                                 limit_flips=self.limit_flips, name=name)


def _norm(train: bool) -> nn.Module:
    """Non-affine batch normalisation (the paper's BN without scale and shift)."""
    return nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False, momentum=0.9)


class FashionCNN(_Layers):
    """The Fashion-MNIST CNN: max-pool 28 -> 14, ``bits``-bit inputs, conv 1-64 3x3,
    BN, ReLU, ``bits``-bit, conv 64-16 3x3, max-pool 2, BN, ReLU, flatten (400),
    FC 400-128, ReLU, FC 128-10. Input (B, 28, 28, 1) in [0, 1]; logits (B, 10).

    Attributes: kind ("weights" or "pruned"), spec (the arrays), keep (fraction of
    edges kept, pruned kind), limit_flips (the reprogramming limiter), bits
    (activation resolution), widths (conv1, conv2, hidden), n_classes.
    """

    kind: str = "pruned"
    spec: CrossbarSpec = CrossbarSpec()
    keep: float = 0.5
    limit_flips: bool = False
    bits: int = 4
    widths: tuple[int, int, int] = (64, 16, 128)
    n_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        self._check()
        if x.ndim != 4 or x.shape[1:3] != (28, 28):
            raise ValueError(f"FashionCNN: input has shape {x.shape}: expected (batch, 28, 28, channels)")
        c1, c2, hidden = self.widths
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = self.conv(c1, (3, 3), name="conv1")(quantize_activations(x, self.bits))
        x = nn.relu(_norm(train)(x))
        x = self.conv(c2, (3, 3), name="conv2")(quantize_activations(x, self.bits))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = nn.relu(_norm(train)(x))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(self.dense(hidden, name="fc1")(quantize_activations(x, self.bits)))
        return self.dense(self.n_classes, name="fc2")(quantize_activations(x, self.bits))
