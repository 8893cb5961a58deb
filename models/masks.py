"""Edge-popup masks on random arrays: top-k of |scores| (straight-through), flip
counts, and the edge-pruning paper's reprogramming limiter with the mask on the
chip kept in the ``"mask"`` collection. ``models.layers``' masked random layers use
them (and re-export them)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from analog import converters

__all__ = ["MASK", "PULSES_PER_FLIP", "topk_mask", "mask_flips", "limited_mask"]

MASK = "mask"  # the variable collection of reprogramming-limited masks (the mask on the chip)
PULSES_PER_FLIP = 2  # a mask flip SETs or RESETs both cells of the pair


def topk_mask(scores: jax.Array, keep: float) -> jax.Array:
    """Edge-popup mask: 1 on the ``round(keep * scores.size)`` largest |scores| of the
    whole tensor (at least one), 0 elsewhere; exactly that many ones, ties broken by
    position. Straight-through the ranking |scores|, as edge-popup: the forward value
    is the 0/1 mask, the gradient of a score is ``sign(score) * dL/dmask`` (a negative
    score grows in magnitude when its edge should be kept)."""
    k = max(1, round(keep * scores.size))
    flat = jnp.abs(jax.lax.stop_gradient(scores)).reshape(-1)
    top = jax.lax.top_k(flat, k)[1]
    mask = jnp.zeros(flat.shape, scores.dtype).at[top].set(1.0).reshape(scores.shape)
    return converters.ste(jnp.abs(scores), mask)


def mask_flips(scores_old: jax.Array, scores_new: jax.Array, keep: float) -> jax.Array:
    """Edges whose mask bit differs between two score states (int scalar): the
    reprogramming cost of a mask update is ``PULSES_PER_FLIP`` pulses per flip."""
    old = jax.lax.stop_gradient(topk_mask(scores_old, keep))
    new = jax.lax.stop_gradient(topk_mask(scores_new, keep))
    return jnp.sum(old != new)


def limited_mask(scores_prev: jax.Array, scores: jax.Array, mask_prev: jax.Array, keep: float,
                 limit) -> jax.Array:
    """One reprogramming-limited mask update (the edge-pruning paper's hysteresis).

    The new top-k mask of |scores|, except that an edge whose relative score change
    ``| |S| - |S_prev| | / |S_prev|`` is below ``limit`` keeps its previous bit
    (``mask_prev``), so small score jitter does not reprogram a pair. Returns the 0/1
    mask (no gradient; ``limit`` = 0 gives the plain top-k mask). The kept count is no
    longer exactly top-k while bits are held.
    """
    fresh = jax.lax.stop_gradient(topk_mask(scores, keep))
    old = jnp.abs(jax.lax.stop_gradient(scores_prev))
    change = jnp.abs(old - jnp.abs(jax.lax.stop_gradient(scores))) / old  # inf where old = 0: follow top-k
    return jnp.where(change < limit, mask_prev, fresh)


def _mask(module: nn.Module, scores: jax.Array, keep: float, limit_flips: bool) -> jax.Array:
    """The layer's 0/1 mask (straight-through to ``scores``).

    Plain edge-popup: ``topk_mask``. With ``limit_flips`` the mask on the chip lives
    in the ``"mask"`` collection (``bits``, the ``scores`` at the last update, the
    relative ``limit``, the ``flips`` counted so far); an apply with ``"mask"``
    mutable is a training step that updates it (``limited_mask``) and counts the
    flipped bits, any other apply reads the stored bits.
    """
    if not limit_flips:
        return topk_mask(scores, keep)
    frozen = jax.lax.stop_gradient(scores)
    bits = module.variable(MASK, "bits", lambda: topk_mask(frozen, keep))
    previous = module.variable(MASK, "scores", lambda: frozen)
    limit = module.variable(MASK, "limit", lambda: jnp.zeros((), scores.dtype))
    flips = module.variable(MASK, "flips", lambda: jnp.zeros((), scores.dtype))
    if module.is_mutable_collection(MASK) and not module.is_initializing():
        new = limited_mask(previous.value, scores, bits.value, keep, limit.value)
        flips.value = flips.value + jnp.sum(new != bits.value)
        bits.value, previous.value = new, frozen
    return converters.ste(jnp.abs(scores), bits.value)
