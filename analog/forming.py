"""Forming: the random conductances that random-weight networks use as their weights.

Electroforming a resistive cell leaves it at a random conductance; in the
random-weight systems (edge pruning, PRIME, DEPLM, the neural field's encoder)
those conductances *are* the weights, and one program key is one chip. All
conductances in siemens (S), draws through ``analog.noise``::

    formed cell:   g ~ max(N(form_mean, form_std), 0), with probability 1 - unformed_prob
    unformed cell: g = g_unformed
    RESET cell:    g ~ max(N(reset_mean, reset_std), 0) for a formed cell (a pruned edge),
                   g_unformed for an unformed one

A weight is a differential pair ``g_pos - g_neg`` of independently formed cells
(``random_pair``). The statistics are fields of ``analog.device.RRAM``
(``RRAM.taox_40nm_random()``: the 40 nm TaOx macro).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from analog import noise
from analog.device import RRAM

__all__ = ["RandomPair", "random_conductance", "random_pair", "cell_moments"]


def _check_forming(spec: RRAM, what: str, key=None, shape=None) -> None:
    if key is not None:
        noise.check_key(key, f"{what}: key")
    if shape is not None and not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise ValueError(f"{what}: shape = {shape!r} is invalid: allowed a tuple of ints >= 0")
    if spec.form_mean is None:
        raise ValueError(f"{what}: RRAM.form_mean is None, so these cells have no formed state to draw; "
                         "use a random-source preset such as RRAM.taox_40nm_random() or set form_mean")


def _form(key: jax.Array, shape: tuple[int, ...], spec: RRAM, dtype) -> tuple[jax.Array, jax.Array]:
    """Formed conductances (S) and the formed mask (bool) of an array."""
    k_g, k_form = noise.split(key)
    g = spec.form_mean + spec.form_std * noise.normal(k_g, shape, dtype)
    g = jnp.maximum(g, 0.0)
    unformed = noise.uniform(k_form, shape, dtype) < spec.unformed_prob
    return jnp.where(unformed, jnp.asarray(spec.g_unformed, dtype), g), ~unformed


def random_conductance(key: jax.Array, shape: tuple[int, ...], spec: RRAM,
                       dtype=jnp.float32) -> jax.Array:
    """Stochastic forming of a whole array: N(form_mean, form_std) S per cell, >= 0,
    with a fraction ``unformed_prob`` of cells left at ``g_unformed``."""
    _check_forming(spec, "random_conductance", key=key, shape=shape)
    return _form(key, shape, spec, dtype)[0]


class RandomPair(NamedTuple):
    """A differential pair of randomly formed arrays (all S, one shape).

    g_pos, g_neg: as-formed (SET) conductances; the weight is ``g_pos - g_neg``.
    reset_pos, reset_neg: what the same cells hold after a RESET pulse (a pruned
        edge reads ``reset_pos - reset_neg``); unformed cells stay at g_unformed.
        None when the spec has no RESET state (``reset_mean is None``).
    """

    g_pos: jax.Array
    g_neg: jax.Array
    reset_pos: jax.Array | None
    reset_neg: jax.Array | None


def _reset(key: jax.Array, formed: jax.Array, spec: RRAM, dtype) -> jax.Array:
    """RESET conductances (S) of the formed cells; unformed cells stay at g_unformed."""
    g = jnp.maximum(spec.reset_mean + spec.reset_std * noise.normal(key, formed.shape, dtype), 0.0)
    return jnp.where(formed, g, jnp.asarray(spec.g_unformed, dtype))


def random_pair(key: jax.Array, shape: tuple[int, ...], spec: RRAM, dtype=jnp.float32) -> RandomPair:
    """Form a differential pair of arrays of ``shape`` once (``key`` = the chip's program key).

    Each cell is formed independently (``random_conductance``); if the spec has a
    RESET state, each formed cell also gets its own RESET conductance
    N(reset_mean, reset_std) >= 0, fixed for the chip. The weight of a formed
    edge is ``g_pos - g_neg``; mean zero, variance 2 Var(cell).
    """
    _check_forming(spec, "random_pair", key=key, shape=shape)
    k_pos, k_neg, k_reset = noise.split(key, 3)
    g_pos, formed_pos = _form(k_pos, shape, spec, dtype)
    g_neg, formed_neg = _form(k_neg, shape, spec, dtype)
    if spec.reset_mean is None:
        return RandomPair(g_pos, g_neg, None, None)
    k_rp, k_rn = noise.split(k_reset)
    return RandomPair(g_pos, g_neg, _reset(k_rp, formed_pos, spec, dtype), _reset(k_rn, formed_neg, spec, dtype))


def cell_moments(spec: RRAM) -> tuple[float, float]:
    """(mean, std) in S of one formed-or-unformed cell (normal clipping at 0 ignored),
    e.g. to normalise random weights: a pair's difference has std sqrt(2) x std."""
    _check_forming(spec, "cell_moments")
    p = spec.unformed_prob
    mean = (1 - p) * spec.form_mean + p * spec.g_unformed
    second = (1 - p) * (spec.form_std**2 + spec.form_mean**2) + p * spec.g_unformed**2
    return mean, (second - mean**2) ** 0.5
