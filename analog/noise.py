"""Fast Gaussian noise for the hot path of noisy reads.

``jax.random.normal`` (threefry) costs more than the matmul it perturbs on a
CPU: about 6 ns per draw against ~1 ns per output of a 512-wide matmul. Read
noise needs many fresh draws per call but not cryptographic quality, so
``normal`` hashes a counter with a 64-bit seed taken from the key (two rounds
of the "lowbias32" integer hash, Wellons 2018) into 24-bit uniforms and maps
them through the inverse error function.

Properties: deterministic in the key (same key, same noise), independent
streams for different keys (the seed is drawn from the key with threefry),
exact N(0, 1) quantiles up to |z| ~ 5.3 (24-bit uniforms; the tails beyond are
truncated, a 1e-7 effect). Use ``jax.random.normal`` where draws are few
(programming a chip happens once).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["normal"]

_GOLDEN = 0x9E3779B9


def _hash32(x: jax.Array) -> jax.Array:
    """lowbias32: a 32-bit integer hash with strong avalanche (uint32 -> uint32)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Standard normal draws of ``shape`` from ``key`` (fast, deterministic, not cryptographic)."""
    seed = jax.random.bits(key, (2,), jnp.uint32)
    count = math.prod(shape)
    counter = jax.lax.iota(jnp.uint32, count) * jnp.uint32(_GOLDEN)
    bits = _hash32(_hash32(counter + seed[0]) ^ seed[1])
    u = (bits >> 8).astype(jnp.float32) * (2.0**-24) + 2.0**-25  # in (0, 1), 24-bit resolution
    z = jnp.sqrt(2.0) * jax.lax.erf_inv(2.0 * u - 1.0)
    return z.reshape(shape).astype(dtype)
