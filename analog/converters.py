"""Quantizers, DACs and ADCs, all with straight-through gradients.

* ``quantize_uniform``: 2**bits levels over a fixed range ``[lo, hi]`` (an ADC).
* ``quantize_symmetric`` / ``quantize_steps``: signed levels with zero exact, per
  tensor or per channel (by bit width, or by the number of positive steps).
* ``ternarize`` / ``ternary_codes``: ternary weight networks (Li et al., 2016):
  threshold ``delta = threshold * mean|w|``, scale = mean |w| above it.
* ``bit_planes``: sign-magnitude bit-serial input encoding (1-bit DAC planes that
  the array reads one after the other and the periphery shift-adds);
  ``unsigned_bit_planes`` the planes of inputs in [0, 1] (the min-max "offset"
  encoding: x = lo + (hi - lo) q, the ``lo`` term read as one extra all-ones plane).
* ``DAC`` / ``ADC`` specs and ``dac`` / ``adc`` functions in the crossbar's
  normalised units (inputs in [-1, 1], one cell pair at full conductance swing = 1).

Straight-through estimator (STE): forward pass quantizes, backward pass is the
identity inside the range and zero where the input was clipped.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import numpy as np

from analog.spec import check_range, is_concrete, spec, static

__all__ = [
    "ste",
    "quantize_uniform",
    "quantize_symmetric",
    "quantize_steps",
    "ternary_codes",
    "ternarize",
    "bit_planes",
    "unsigned_bit_planes",
    "ENCODINGS",
    "DAC",
    "ADC",
    "dac",
    "adc",
    "adc_clip_count",
]


def ste(x: jax.Array, q: jax.Array) -> jax.Array:
    """Value of ``q`` (exactly) with the gradient of ``x`` (straight-through estimator)."""
    return jax.lax.stop_gradient(q) + (x - jax.lax.stop_gradient(x))


def _clip(x: jax.Array, lo, hi) -> jax.Array:
    """``clip(x, lo, hi)`` whose gradient is 1 on the closed range and 0 outside
    (``jnp.clip`` halves it at the bounds, where the largest weight always sits)."""
    inside = (x >= lo) & (x <= hi)
    return jnp.where(inside, x, jax.lax.stop_gradient(jnp.clip(x, lo, hi)))


def _check_bits(bits: int, minimum: int = 1) -> None:
    if not isinstance(bits, int) or isinstance(bits, bool) or not minimum <= bits <= 32:
        raise ValueError(f"bits = {bits!r} is invalid: allowed an integer in [{minimum}, 32]")


def quantize_uniform(x: jax.Array, bits: int, lo, hi) -> jax.Array:
    """Round ``x`` to the nearest of ``2**bits`` evenly spaced levels spanning ``[lo, hi]``.

    Values outside the range are clipped to it. Inside the range the error is at
    most half a step ``(hi - lo) / (2**bits - 1)``. ``lo`` and ``hi`` broadcast
    against ``x``. Gradient: straight-through inside the range, zero outside.
    """
    _check_bits(bits)
    if is_concrete(lo) and is_concrete(hi) and not np.all(np.asarray(lo) < np.asarray(hi)):
        raise ValueError(f"quantize_uniform: lo = {lo!r}, hi = {hi!r} is invalid: allowed lo < hi")
    step = (hi - lo) / (2**bits - 1)
    clipped = _clip(x, lo, hi)
    q = lo + jnp.round((clipped - lo) / step) * step
    return ste(clipped, q)


def _absmax(x: jax.Array, axis: int | None) -> jax.Array:
    if axis is None:
        return jnp.max(jnp.abs(x))
    axis = axis % x.ndim
    others = tuple(a for a in range(x.ndim) if a != axis)
    return jnp.max(jnp.abs(x), axis=others, keepdims=True)


def quantize_symmetric(x: jax.Array, bits: int, axis: int | None = None, scale=None) -> jax.Array:
    """Signed quantization to ``2**(bits-1) - 1`` positive levels, their negatives and zero.

    The step is ``absmax / (2**(bits-1) - 1)`` with ``absmax`` over the whole
    tensor (``axis=None``) or per slice along ``axis`` (per channel); pass
    ``scale`` to fix ``absmax`` instead. Requires ``bits >= 2``.
    """
    _check_bits(bits, minimum=2)
    return quantize_steps(x, 2 ** (bits - 1) - 1, axis, scale)


def quantize_steps(x: jax.Array, steps: int, axis: int | None = None, scale=None) -> jax.Array:
    """Signed quantization to ``{k absmax / steps : k = -steps..steps}`` (2 steps + 1 values).

    ``absmax`` over the tensor (``axis=None``), per slice along ``axis``, or fixed
    by ``scale``. Values beyond it clip. Gradient: straight-through inside, zero outside.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps = {steps!r} is invalid: allowed an integer >= 1")
    absmax = _absmax(x, axis) if scale is None else jnp.asarray(scale)
    absmax = jax.lax.stop_gradient(jnp.where(absmax > 0, absmax, 1.0))
    clipped = _clip(x, -absmax, absmax)
    q = jnp.round(clipped / absmax * steps) / steps * absmax
    return ste(clipped, q)


def ternary_codes(w: jax.Array, threshold: float = 0.7, axis: int | None = None):
    """Ternary weight network codes: ``(codes in {-1, 0, 1}, alpha)``.

    ``delta = threshold * mean|w|`` (per tensor or per slice along ``axis``);
    ``codes = sign(w) * (|w| > delta)``; ``alpha`` = mean |w| over the codes
    that are non-zero, so ``alpha * codes`` approximates ``w``.
    """
    if axis is None:
        reduce_axes, keep = None, False
    else:
        reduce_axes, keep = tuple(a for a in range(w.ndim) if a != axis % w.ndim), True
    absw = jnp.abs(w)
    delta = threshold * jnp.mean(absw, axis=reduce_axes, keepdims=keep)
    mask = absw > delta
    count = jnp.maximum(jnp.sum(mask, axis=reduce_axes, keepdims=keep), 1)
    alpha = jnp.sum(jnp.where(mask, absw, 0.0), axis=reduce_axes, keepdims=keep) / count
    codes = jnp.sign(w) * mask
    return codes, alpha


def ternarize(w: jax.Array, threshold: float = 0.7, axis: int | None = None) -> jax.Array:
    """``alpha * codes`` from ``ternary_codes`` with a straight-through gradient."""
    codes, alpha = ternary_codes(w, threshold, axis)
    return ste(w, jax.lax.stop_gradient(alpha) * codes)


def bit_planes(x: jax.Array, bits: int):
    """Sign-magnitude bit-serial encoding of ``x`` (..., n), values in [-1, 1].

    Returns ``(planes, weights)``: ``planes`` has shape (bits, ..., n) with
    entries in {-1, 0, +1} (a 1-bit DAC drives -V, 0 or +V per plane) and
    ``weights`` (bits,) so that ``sum_k weights[k] * planes[k]`` is ``x``
    rounded to ``2**bits - 1`` magnitude levels. Apply the planes to the array
    one by one and shift-add the converted outputs with ``weights``.
    """
    _check_bits(bits)
    levels = 2**bits - 1
    magnitude = jnp.round(jnp.clip(jnp.abs(x), 0.0, 1.0) * levels).astype(jnp.int32)
    k = jnp.arange(bits, dtype=jnp.int32).reshape((bits,) + (1,) * x.ndim)
    planes = ((magnitude[None] >> k) & 1).astype(x.dtype) * jnp.sign(x)[None]
    weights = (2.0 ** jnp.arange(bits, dtype=x.dtype)) / levels
    return planes, weights


def unsigned_bit_planes(x: jax.Array, bits: int):
    """Bit-serial encoding of ``x`` (..., n) in [0, 1]: ``(planes (bits, ..., n) in
    {0, 1}, weights (bits,))`` with ``sum_k weights[k] * planes[k]`` = ``x`` rounded
    to ``2**bits - 1`` levels (one polarity: the DAC drives 0 or +V)."""
    _check_bits(bits)
    levels = 2**bits - 1
    code = jnp.round(jnp.clip(x, 0.0, 1.0) * levels).astype(jnp.int32)
    k = jnp.arange(bits, dtype=jnp.int32).reshape((bits,) + (1,) * x.ndim)
    planes = ((code[None] >> k) & 1).astype(x.dtype)
    return planes, (2.0 ** jnp.arange(bits, dtype=x.dtype)) / levels


ENCODINGS = ("sign_magnitude", "offset")


@spec
class DAC:
    """Input digital-to-analogue converter.

    bits: resolution of the input magnitude (sign is a separate polarity bit).
    bit_serial: apply the input as ``bits`` binary planes through a 1-bit DAC
        (each plane is a separate array read and ADC conversion; shift-add),
        as the 40 nm macros do; False = one multi-level read.
    encoding: "sign_magnitude" (each input vector scaled by its largest |x|, the
        sign a polarity) or "offset" (DEPLM's min-max: each vector mapped to
        [0, 1] by its min and max, ``x = lo + (hi - lo) q`` with ``q`` unsigned
        levels; the ``lo @ W`` term is one extra read of an all-ones input plane).
        "offset" uses every level for a vector whose values share a sign (ReLU
        features, pixel intensities), where sign-magnitude wastes the sign bit.
    """

    bits: int = static(8)
    bit_serial: bool = static(False)
    encoding: str = static("sign_magnitude")

    def validate(self):
        check_range(self, "bits", 1, 32, integer=True)
        if self.encoding not in ENCODINGS:
            raise ValueError(f"DAC.encoding = {self.encoding!r} is invalid: allowed {ENCODINGS}")
        if not self.bit_serial:
            check_range(self, "bits", 2, 32, integer=True)


@spec
class ADC:
    """Column analogue-to-digital converter.

    bits: resolution (2**bits levels).
    fullscale: the ADC converts [-fullscale, +fullscale] (in units of one
        cell pair at full conductance swing driven at full input voltage, i.e.
        ``fullscale * v_read * (g_max - g_min)`` amperes); larger column sums clip.
    """

    bits: int = static(8)
    fullscale: float = 16.0

    def validate(self):
        check_range(self, "bits", 1, 32, integer=True)
        check_range(self, "fullscale", 0.0, lo_open=True)


def dac(x: jax.Array, spec: DAC) -> jax.Array:
    """Quantize normalised inputs ``x`` in [-1, 1] to the DAC's levels (multi-level mode)."""
    return quantize_symmetric(x, spec.bits + 1, scale=1.0)


def adc(y: jax.Array, spec: ADC) -> jax.Array:
    """Convert normalised column sums ``y`` (any shape): clip to the full scale, quantize."""
    return quantize_uniform(y, spec.bits, -spec.fullscale, spec.fullscale)


def adc_clip_count(y: jax.Array, spec: ADC) -> jax.Array:
    """Number of conversions in ``y`` that fall outside the ADC's full scale."""
    return jnp.sum(jnp.abs(y) > spec.fullscale)
