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
from models.layers import KINDS, KindLayers

__all__ = ["KINDS", "quantize_activations", "FashionCNN", "SpeechCRNN", "UNet"]



def quantize_activations(x: jax.Array, bits: int, signed: bool = False) -> jax.Array:
    """``bits``-bit activations, one range per sample (leading index), straight-through.

    Unsigned (after a ReLU): x clipped at 0 and rounded to ``2**bits`` levels over
    [0, max]; ``signed``: rounded over [min, max] of the sample."""
    axes = tuple(range(1, x.ndim))
    hi = jax.lax.stop_gradient(jnp.max(x, axis=axes, keepdims=True))
    if not signed:
        return converters.quantize_uniform(jnp.maximum(x, 0.0), bits, 0.0, jnp.maximum(hi, 1e-6))
    lo = jax.lax.stop_gradient(jnp.min(x, axis=axes, keepdims=True))
    return converters.quantize_uniform(x, bits, lo, jnp.maximum(hi, lo + 1e-6))


def _norm(train: bool) -> nn.Module:
    """Non-affine batch normalisation (the paper's BN without scale and shift)."""
    return nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False, momentum=0.9)


class FashionCNN(KindLayers):
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


class SpeechCRNN(KindLayers):
    """The spoken-digit CRNN: ``bits``-bit inputs over [0, 1], conv 1-64 (3 x 2,
    stride (2, 1)), max-pool 2, BN, ReLU, conv 64-32 (3 x 2, stride (2, 1)), max-pool 2,
    BN, a ReLU RNN of ``hidden`` units over the remaining time steps (frequency is
    collapsed to 1), the mean of its hidden states, FC hidden-256, ReLU, FC 256-10;
    activations ``bits``-bit before every array. Input (B, 23, 20, 1): 23 mel bands x
    20 frames (``train.data.speech``); logits (B, 10).

    The recurrence is unrolled in Python: every step calls the same two array
    layers, so every step reads one chip, draws fresh read noise, and a limited mask
    is updated once per apply (later calls in the same apply see no score change).
    """

    kind: str = "pruned"
    spec: CrossbarSpec = CrossbarSpec()
    keep: float = 0.5
    limit_flips: bool = False
    bits: int = 3
    widths: tuple[int, int, int, int] = (64, 32, 128, 256)
    n_classes: int = 10

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        self._check()
        if x.ndim != 4 or x.shape[1] < 23:
            raise ValueError(f"SpeechCRNN: input has shape {x.shape}: expected (batch, >= 23 mel bands, frames, 1)")
        c1, c2, hidden, fc = self.widths
        x = converters.quantize_uniform(jnp.clip(x, 0.0, 1.0), self.bits, 0.0, 1.0)
        x = self.conv(c1, (3, 2), (2, 1), name="conv1")(x)
        x = nn.relu(_norm(train)(nn.max_pool(x, (2, 2), (2, 2))))
        x = self.conv(c2, (3, 2), (2, 1), name="conv2")(quantize_activations(x, self.bits))
        x = _norm(train)(nn.max_pool(x, (2, 2), (2, 2)))
        steps = quantize_activations(jnp.mean(x, axis=1), self.bits, signed=True)  # (B, T, c2)
        w_in, w_rec = self.dense(hidden, name="rnn_input"), self.dense(hidden, name="rnn_recurrent")
        h = jnp.zeros((x.shape[0], hidden), x.dtype)
        states = []
        for t in range(steps.shape[1]):
            h = nn.relu(w_in(steps[:, t]) + w_rec(quantize_activations(h, self.bits)))
            states.append(h)
        x = quantize_activations(jnp.mean(jnp.stack(states), axis=0), self.bits)
        x = nn.relu(self.dense(fc, name="fc1")(x))
        return self.dense(self.n_classes, name="fc2")(quantize_activations(x, self.bits))


class UNet(KindLayers):
    """The DRIVE U-Net: ``depth`` max-pool levels of double 3x3 convolutions (BN,
    ReLU) from ``base`` channels, bilinear up-sampling with skip concatenation, a 1x1
    convolution to ``n_classes``; signed ``bits``-bit activations before every array.
    Input (B, H, W, 1) with H, W multiples of 2**depth; logits (B, H, W, n_classes).
    The paper's network: base 32, depth 4, 6 bits.
    """

    kind: str = "pruned"
    spec: CrossbarSpec = CrossbarSpec()
    keep: float = 0.5
    limit_flips: bool = False
    bits: int = 6
    base: int = 32
    depth: int = 4
    n_classes: int = 2

    def _double(self, x, mid: int, out: int, train: bool, name: str):
        for i, features in enumerate((mid, out)):
            x = self.conv(features, (3, 3), padding="SAME", name=f"{name}_{i + 1}")(
                quantize_activations(x, self.bits, signed=True))
            x = nn.relu(_norm(train)(x))
        return x

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        self._check()
        step = 2 ** self.depth
        if x.ndim != 4 or x.shape[1] % step or x.shape[2] % step:
            raise ValueError(f"UNet: input has shape {x.shape}: expected (batch, H, W, C) with H and W "
                             f"multiples of {step} (depth {self.depth})")
        widths = [self.base * 2 ** d for d in range(self.depth)] + [self.base * 2 ** (self.depth - 1)]
        x = self._double(x, widths[0], widths[0], train, "in")
        skips = []
        for d in range(1, self.depth + 1):
            skips.append(x)
            x = self._double(nn.max_pool(x, (2, 2), (2, 2)), widths[d], widths[d], train, f"down{d}")
        for d in reversed(range(self.depth)):
            skip = skips[d]
            x = jax.image.resize(x, skip.shape[:3] + x.shape[3:], "bilinear")
            x = jnp.concatenate([skip, x], axis=-1)
            out = widths[d - 1] if d > 0 else widths[0]
            x = self._double(x, x.shape[-1] // 2, out, train, f"up{d + 1}")
        return self.conv(self.n_classes, (1, 1), name="out")(quantize_activations(x, self.bits, signed=True))
