"""The simulator's random numbers: fast, counter-based, keyed by JAX keys.

Every stochastic function in ``analog/`` takes a JAX PRNG key (raw ``uint32[2]``
from ``jax.random.PRNGKey`` or a typed ``jax.random.key``) and draws through
this module instead of ``jax.random``:

* ``normal`` / ``uniform``: a counter hashed with the key's words (two rounds of
  the "lowbias32" integer hash, Wellons 2018) into uniforms on a 23-bit grid
  strictly inside (0, 1); normals through the inverse error function of a
  symmetric 24-bit grid strictly inside (-1, 1) (exact N(0, 1) quantiles to
  |z| ~ 5.3, the tails beyond are truncated, a 1e-7 effect). Both grids are
  exact in float32: a grid that reaches 1 - 2^-25 rounds to 1, and erf_inv(1)
  is inf (once in 2^24 draws, i.e. a NaN on most large chips).
* ``split`` / ``fold_in``: derive new keys by hashing the key's words with the
  index (same type as the input key).

Why not ``jax.random``: threefry costs ~6 ns per draw on a CPU (more than the
matmul it perturbs) and every call site adds ~0.3 s of XLA compile time; a
vmapped Monte Carlo of a small analogue network had 30 s of compile. These
streams are deterministic in the key (same key, same chip), statistically
sound for simulation, and not cryptographic.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["normal", "uniform", "split", "fold_in", "check_key"]

_GOLDEN = 0x9E3779B9
_RAW_KEY_SHAPE = tuple(jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape)  # (2,) for threefry
_SALT = 0x85EBCA6B


def _hash32(x: jax.Array) -> jax.Array:
    """lowbias32: a 32-bit integer hash with strong avalanche (uint32 -> uint32)."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _is_typed(key: jax.Array) -> bool:
    return jnp.issubdtype(key.dtype, jax.dtypes.prng_key)


def check_key(key, what: str = "key") -> None:
    """Raise ``ValueError`` unless ``key`` is one JAX PRNG key: a raw ``uint32[2]``
    (``jax.random.PRNGKey(seed)``) or a typed key scalar (``jax.random.key(seed)``).
    Works on tracers too (only dtype and shape are looked at)."""
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is None or shape is None:
        raise ValueError(f"{what} = {key!r} is invalid: allowed one JAX PRNG key, "
                         "jax.random.PRNGKey(seed) or jax.random.key(seed)")
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"{what} is a batch of {shape} typed keys: allowed one key (vmap over a batch)")
        return
    if dtype != jnp.uint32 or tuple(shape) != _RAW_KEY_SHAPE:
        raise ValueError(f"{what} has dtype {dtype} and shape {tuple(shape)}: allowed one JAX PRNG key, a raw "
                         f"uint32{list(_RAW_KEY_SHAPE)} (jax.random.PRNGKey(seed)) or a typed key "
                         "(jax.random.key(seed)); vmap over a batch of keys")


def _words(key: jax.Array) -> jax.Array:
    """The key's uint32 words, shape (k,)."""
    check_key(key)
    return jax.random.key_data(key) if _is_typed(key) else key


def _seed(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    words = _words(key)
    s0 = words[0]
    for w in words[1:]:
        s0 = _hash32(s0 ^ w)
    return _hash32(s0 + jnp.uint32(_SALT)), _hash32(words[-1] ^ jnp.uint32(_GOLDEN))


def _bits(key: jax.Array, count: int) -> jax.Array:
    s0, s1 = _seed(key)
    counter = jax.lax.iota(jnp.uint32, count) * jnp.uint32(_GOLDEN)
    return _hash32(_hash32(counter + s0) ^ s1)


def _materialize(x: jax.Array) -> jax.Array:
    """Compute the draws once: without the barrier XLA fuses (duplicates) the
    whole hash chain into every consumer, and compile time explodes."""
    return jax.lax.optimization_barrier(x)


def uniform(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Uniform draws in (0, 1) of ``shape`` (24-bit resolution)."""
    bits = _bits(key, math.prod(shape))
    # 23-bit grid centred in its cells: (k + 1/2) 2^-23 is exact in float32 and at most 1 - 2^-24
    u = ((bits >> 9).astype(jnp.float32) + 0.5) * (2.0**-23)
    return _materialize(u.reshape(shape).astype(dtype))


def normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Standard normal draws of ``shape``."""
    bits = _bits(key, math.prod(shape))
    # 2u - 1 on a symmetric 24-bit grid, exact in float32 and never +-1 (erf_inv(+-1) = +-inf)
    centred = ((bits >> 8).astype(jnp.float32) - (2.0**23 - 0.5)) * (2.0**-23)
    return _materialize((jnp.sqrt(2.0) * jax.lax.erf_inv(centred)).reshape(shape).astype(dtype))


def fold_in(key: jax.Array, index) -> jax.Array:
    """A new key for ``index`` (an int or a uint32 scalar), same type as ``key``."""
    words = _words(key)
    tag = _hash32(jnp.asarray(index, jnp.uint32) * jnp.uint32(_GOLDEN) + jnp.uint32(_SALT))
    positions = jnp.arange(words.shape[0], dtype=jnp.uint32)
    new = _hash32(_hash32(words ^ tag) + positions * jnp.uint32(_GOLDEN) + tag)
    return jax.random.wrap_key_data(new, impl=jax.random.key_impl(key)) if _is_typed(key) else new


def split(key: jax.Array, num: int = 2) -> jax.Array:
    """``num`` new keys, stacked on a leading axis."""
    return jax.vmap(lambda i: fold_in(key, i))(jnp.arange(num, dtype=jnp.uint32))
